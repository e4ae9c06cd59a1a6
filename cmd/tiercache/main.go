// Command tiercache serves the user API on a two-tier cache in front of a
// user store, or, as tiercache proxy, any HTTP service through the same
// cache. Run tiercache -h or tiercache proxy -h for the settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tiercache/tiercache/backends/otter"
	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/ratelog"
	"github.com/tiercache/tiercache/internal/redact"
	"github.com/tiercache/tiercache/proxy"
	"github.com/tiercache/tiercache/server"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/bolt"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/tiercache/tiercache/users/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// report writes err, if any, as one line and returns the exit status: 0
// after a clean shutdown or -h, 2 for a command line tiercache does not
// understand, 1 for every other error (a setting, the store, Redis, the
// listener: the service did not start).
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "tiercache:", oneLine(err.Error()))
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

// oneLine joins the lines of a message that a library spread over several
// (pgx lists one line per address it tried), so that a start-up error is
// one line on stderr.
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	var b strings.Builder
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if i > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// run is main without the process: it returns when ctx ends (after a
// graceful shutdown) or when the service cannot start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level: %w", err)
	}
	logs := ratelog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}), ratelog.Config{})
	defer logs.Flush()
	log := slog.New(logs)
	var fdLimit uint64
	cfg.maxConns, fdLimit = connLimit(cfg.maxConns, log)

	app, err := open(cfg, log)
	if err != nil {
		return err
	}
	defer app.close()

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	hs := app.srv.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- app.srv.Serve(ln) }()
	what := []any{"store", redact.URL(cfg.store)}
	if cfg.proxy {
		what = []any{"origin", redact.URL(cfg.origin)}
	}
	log.Info("tiercache serving", append([]any{"addr", ln.Addr().String()}, append(what,
		"l1_bytes", cfg.l1Bytes.String(), "l1_backend", cfg.l1Backend.value, "redis", app.redisState(),
		"max_conns", cfg.maxConns, "fd_limit", fdLimit)...)...)

	select {
	case err := <-served:
		return fmt.Errorf("cannot serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := hs.ShutdownWithContext(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	return nil
}

// app is the wired service.
type app struct {
	store users.Store
	l1    l1Tier
	l2    *redis.Tier
	cache *users.Cache
	proxy *proxy.Proxy
	srv   *server.Server
}

// l1Tier is an L1 backend that owns goroutines.
type l1Tier interface {
	core.Tier
	Close()
}

// openL1 returns the L1 of backend, or a nil interface and an error.
func openL1(backend string, maxBytes int64) (l1Tier, error) {
	if backend == "otter" {
		t, err := otter.New(otter.Config{MaxBytes: maxBytes})
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	t, err := ristretto.New(ristretto.Config{MaxBytes: maxBytes})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// open builds the store, the tiers, the cache and the HTTP handlers. On
// error it closes what it opened and returns a nil *app.
func open(cfg config, log *slog.Logger) (*app, error) {
	a := &app{}
	if err := a.open(cfg, log); err != nil {
		a.close()
		if a.l1 != nil {
			a.l1.Close() // no request can hold it yet
		}
		return nil, err
	}
	return a, nil
}

func (a *app) open(cfg config, log *slog.Logger) error {
	var err error
	if cfg.l1Bytes > 0 {
		if a.l1, err = openL1(cfg.l1Backend.value, int64(cfg.l1Bytes)); err != nil {
			return fmt.Errorf("invalid -l1-bytes %s: %w", cfg.l1Bytes.String(), err)
		}
	}
	if cfg.proxy {
		return a.openProxy(cfg, log)
	}
	if a.store, err = openStore(cfg.store, cfg.storeTimeout); err != nil {
		return err
	}
	ccfg := core.Config{
		TTL: cfg.ttl, NegativeTTL: cfg.negativeTTL, DegradedTTL: cfg.degradedTTL,
		StoreTimeout: cfg.storeTimeout, Logger: log,
	}
	if a.l1 != nil { // not a typed nil in the interface
		ccfg.L1 = a.l1
	}
	if cfg.redisURL != "off" {
		if err := a.openL2(cfg, users.MaxBodyBytes, log); err != nil {
			return err
		}
		ccfg.L2 = a.l2
	}
	if a.cache, err = users.NewCache(a.store, ccfg); err != nil {
		return err
	}
	a.srv = server.New(a.cache, server.Config{
		ReadTimeout: cfg.readTimeout, WriteTimeout: cfg.writeTimeout, IdleTimeout: cfg.idleTimeout, Logger: log,
		MaxConns: cfg.maxConns,
	})
	return nil
}

// openL2 connects to Redis; values read from it are at most maxValue bytes.
func (a *app) openL2(cfg config, maxValue int, log *slog.Logger) error {
	var err error
	a.l2, err = redis.New(redis.Config{
		URL: cfg.redisURL, Prefix: cfg.redisPrefix, MaxValueBytes: maxValue,
		Timeout: cfg.redisTimeout, Logger: log,
		TLS: redis.TLS{CAFile: cfg.redisTLS.ca, CertFile: cfg.redisTLS.cert, KeyFile: cfg.redisTLS.key,
			AllowSkipVerify: cfg.redisTLS.insecure},
	})
	return err
}

// openProxy builds the proxy: L1 (opened by open), L2, the proxy and its
// server.
func (a *app) openProxy(cfg config, log *slog.Logger) error {
	pcfg := proxy.Config{
		Origin: cfg.origin, DefaultTTL: cfg.defaultTTL, StaleIfError: cfg.staleIfError,
		OriginTimeout: cfg.originTimeout, MaxObjectBytes: int(cfg.maxObjectBytes), PurgeToken: cfg.purgeToken,
		Cache:  core.Config{TTL: cfg.ttl, DegradedTTL: cfg.degradedTTL, Logger: log},
		Logger: log,
	}
	for _, d := range []struct {
		name   string
		v      time.Duration
		zeroOK bool
	}{{"stale-if-error", cfg.staleIfError, true}, {"origin-timeout", cfg.originTimeout, false}, {"default-ttl", cfg.defaultTTL, false}} {
		if d.v < 0 || d.v == 0 && !d.zeroOK {
			return fmt.Errorf("invalid -%s %s: must be positive", d.name, shortDuration(d.v))
		}
	}
	if cfg.maxObjectBytes > 1<<30 {
		return fmt.Errorf("invalid -max-object-bytes %s: at most 1GiB", cfg.maxObjectBytes.String())
	}
	if a.l1 != nil {
		pcfg.Cache.L1 = a.l1
	}
	if cfg.redisURL != "off" {
		// An entry is the body, its headers and a small head.
		if err := a.openL2(cfg, int(cfg.maxObjectBytes)+64<<10, log); err != nil {
			return err
		}
		pcfg.Cache.L2, pcfg.Versions = a.l2, a.l2
		if a.l2.Status() == "ok" {
			// Writes need the counters: an ACL that lets reads through but
			// not the counter's script would leave other instances stale.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := a.l2.NextVersion(ctx, "#start", time.Second)
			cancel()
			if err != nil && !errors.Is(err, core.ErrUnavailable) {
				return fmt.Errorf("redis refused the proxy's version counters (a script that runs INCR and PEXPIRE; see the README's proxy ACL line): %w", err)
			}
		}
	}
	var err error
	if a.proxy, err = proxy.New(pcfg); err != nil {
		return err
	}
	a.srv = server.NewProxy(a.proxy, server.Config{
		ReadTimeout: cfg.readTimeout, WriteTimeout: cfg.writeTimeout, IdleTimeout: cfg.idleTimeout, Logger: log,
		MaxConns: cfg.maxConns,
	})
	return nil
}

// openStore opens the store that spec names. A PostgreSQL store must answer
// within timeout, the deadline of each store call. On error the Store is a
// nil interface, never a typed nil.
func openStore(spec string, timeout time.Duration) (users.Store, error) {
	switch {
	case spec == "memory":
		return memory.New(), nil
	case strings.HasPrefix(spec, "bolt:"):
		s, err := bolt.Open(strings.TrimPrefix(spec, "bolt:"), bolt.Config{})
		if err != nil {
			return nil, err
		}
		return s, nil
	case isPostgres(spec):
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		// pgx's errors name the host, user and database, never the
		// password (pgconn redacts the URLs it quotes).
		s, err := postgres.Open(ctx, spec, postgres.Config{QueryTimeout: timeout})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("invalid -store %q: want bolt:PATH, postgres://… or memory", redact.URL(spec))
}

func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

func (a *app) redisState() string {
	if a.l2 == nil {
		return "disabled"
	}
	return a.l2.Status()
}

// close releases everything open, in reverse order of opening. L1 is left
// to the garbage collector: a request that outlived the shutdown timeout may
// still use it, and a closed ristretto panics.
func (a *app) close() {
	if a.cache != nil {
		a.cache.Close()
	}
	if a.proxy != nil {
		a.proxy.Close()
	}
	if a.l2 != nil {
		a.l2.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
}
