package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is every setting of the service. Each field is a flag with a
// TIERCACHE_* environment fallback; the command line wins.
type config struct {
	listen          string
	redisURL        string
	store           string
	l1Bytes         byteSize
	l1Backend       choice
	ttl             time.Duration
	negativeTTL     time.Duration
	degradedTTL     time.Duration
	redisPrefix     string
	redisTimeout    time.Duration
	redisTLS        redisTLS
	storeTimeout    time.Duration
	readTimeout     time.Duration
	writeTimeout    time.Duration
	idleTimeout     time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	maxConns        int

	// proxy is set by the proxy subcommand, and the settings below with it.
	proxy          bool
	origin         string
	defaultTTL     time.Duration
	staleIfError   time.Duration
	originTimeout  time.Duration
	maxObjectBytes byteSize
	purgeToken     string
}

// redisTLS is the TLS settings of the Redis connection; see redis.TLS.
type redisTLS struct {
	ca, cert, key string
	insecure      bool
}

// envName maps a flag to its environment variable. The names are part of
// the contract (docs/design.md "Configuration").
func envName(flagName string) string {
	if flagName == "redis" {
		return "TIERCACHE_REDIS_URL"
	}
	return "TIERCACHE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet defines every setting on a FlagSet that prints nothing: the
// caller reports a parse error once, and prints usage on -h. With c.proxy
// set, the settings are the proxy's: no store, an origin instead.
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("tiercache", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.l1Bytes = 64 << 20
	c.l1Backend = choice{value: "ristretto", allowed: []string{"ristretto", "otter"}}
	fs.StringVar(&c.listen, "listen", ":5000", "HTTP address to serve on")
	fs.StringVar(&c.redisURL, "redis", "redis://127.0.0.1:6379", "L2 Redis URL: a single Redis or any node of a Redis Cluster (rediss:// for TLS, ?addr=host:port for more seed nodes); off disables L2")
	if c.proxy {
		c.maxObjectBytes = 1 << 20
		fs.StringVar(&c.origin, "origin", "", "the HTTP service to cache: http://host:port (required)")
		durationVar(fs, &c.defaultTTL, "default-ttl", 120*time.Second, "freshness of an answer that states none; also how long an answer not to cache sends its URI straight to the origin")
		durationVar(fs, &c.staleIfError, "stale-if-error", 0, "how long past its freshness an answer may be served when the origin fails (an answer's own stale-if-error wins)")
		durationVar(fs, &c.originTimeout, "origin-timeout", 10*time.Second, "deadline of each request to the origin (504 after it)")
		fs.Var(&c.maxObjectBytes, "max-object-bytes", "largest body cached; a larger answer streams through uncached")
		fs.StringVar(&c.purgeToken, "purge-token", "", "enables PURGE with Authorization: Bearer TOKEN; pass it by environment")
	} else {
		fs.StringVar(&c.store, "store", "bolt:./data/tiercache.db", "user store: bolt:PATH (embedded, one process), postgres://… (shared by several instances), or memory")
		durationVar(fs, &c.negativeTTL, "negative-ttl", 30*time.Second, "TTL of a cached \"not found\", ±10% jitter")
		durationVar(fs, &c.storeTimeout, "store-timeout", 2*time.Second, "deadline of each store call")
	}
	fs.Var(&c.l1Bytes, "l1-bytes", "L1 memory budget, e.g. 64MiB; 0 disables L1")
	fs.Var(&c.l1Backend, "l1-backend", "L1 cache library: ristretto or otter (BENCHMARKS.md compares them)")
	if c.proxy {
		durationVar(fs, &c.ttl, "ttl", 24*time.Hour, "longest time an answer is kept, fresh or stale")
	} else {
		durationVar(fs, &c.ttl, "ttl", time.Hour, "TTL of a cached user, ±10% jitter")
	}
	durationVar(fs, &c.degradedTTL, "degraded-ttl", time.Second, "L1 TTL of entries filled while Redis is unreachable (the staleness bound across instances then)")
	prefix := "tiercache:user:"
	if c.proxy {
		prefix = "tiercache:proxy:"
	}
	fs.StringVar(&c.redisPrefix, "redis-prefix", prefix, "prefix of every Redis key")
	durationVar(fs, &c.redisTimeout, "redis-timeout", 50*time.Millisecond, "deadline of each Redis call")
	fs.StringVar(&c.redisTLS.ca, "redis-tls-ca", "", "PEM file of the CA that signed the Redis server's certificate, in place of the system's roots (rediss:// only)")
	fs.StringVar(&c.redisTLS.cert, "redis-tls-cert", "", "PEM file of a client certificate for a Redis that requires one (with -redis-tls-key)")
	fs.StringVar(&c.redisTLS.key, "redis-tls-key", "", "PEM file of the private key of -redis-tls-cert")
	fs.BoolVar(&c.redisTLS.insecure, "redis-tls-insecure", false, "allow skip_verify=true in the Redis URL, which turns off the verification of the server's certificate (logged as a warning)")
	durationVar(fs, &c.readTimeout, "read-timeout", 10*time.Second, "HTTP: time to read a whole request")
	durationVar(fs, &c.writeTimeout, "write-timeout", 10*time.Second, "HTTP: time to write a response")
	durationVar(fs, &c.idleTimeout, "idle-timeout", 60*time.Second, "HTTP: keep-alive idle time")
	durationVar(fs, &c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "time given to in-flight requests on SIGINT/SIGTERM")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&c.maxConns, "max-conns", 0, "HTTP: most connections served at once (one more gets a 503); 0: the file descriptor limit less 128 (see README, Limits and operations)")
	return fs
}

// usage lists every setting with its variable and default.
func usage(fs *flag.FlagSet, proxy bool, out io.Writer) {
	what := "Serves the user API on a two-tier cache (L1 in process, L2 Redis) in front of a store.\n"
	if proxy {
		what = "Serves -origin through a two-tier cache (L1 in process, L2 Redis) kept coherent\n" +
			"across instances; its own probes are under /_tiercache/.\n"
	}
	fmt.Fprint(out, "Usage: tiercache [flags]\n       tiercache proxy -origin URL [flags]\n       tiercache healthcheck [-url URL]\n\n"+
		what+
		"Every flag can also be set by its environment variable; the command line wins.\n"+
		"Pass URLs that carry a password by environment: a command line shows in ps.\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(out, "  -%s (%s)\n    \t%s (default %q)\n", f.Name, envName(f.Name), f.Usage, f.DefValue)
	})
}

// usageError is a command line that tiercache does not understand: main
// prints it once, with a hint, and exits 2 (start-up errors exit 1). The
// hint names the listing of the proxy's flags for the proxy's errors.
type usageError struct {
	err   error
	proxy bool
}

func (e usageError) Error() string {
	if e.proxy {
		return e.err.Error() + " (tiercache proxy -h lists the flags)"
	}
	return e.err.Error() + " (tiercache -h lists the flags)"
}

func (e usageError) Unwrap() error { return e.err }

// parseConfig reads flags from args and, for flags not on the command line,
// from getenv. On -h it writes the usage to out and returns flag.ErrHelp; a
// command line it cannot parse is a usageError.
//
// "proxy" as the first argument selects the proxy's settings.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	if len(args) > 0 && args[0] == "proxy" {
		c.proxy, args = true, args[1:]
	}
	fs := newFlagSet(&c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, c.proxy, out)
			return c, err
		}
		return c, usageError{err, c.proxy}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0)), c.proxy}
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !onCommandLine[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("invalid %s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	if err == nil && c.proxy && c.origin == "" {
		err = usageError{errors.New("proxy: -origin (or TIERCACHE_ORIGIN) is required"), true}
	}
	return c, err
}

// choice is a flag that takes one of a fixed set of words.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(c.allowed, ", "))
	}
	c.value = s
	return nil
}

func (c *choice) String() string { return c.value }

// byteSize is a flag for sizes like 64MiB, 1GB, 512KiB or 1048576.
type byteSize int64

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("invalid size %q (want e.g. 64MiB, 1GB or a byte count)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) String() string {
	for _, u := range units[:3] {
		if n := int64(*b); n != 0 && n%u.mult == 0 && n/u.mult < 1<<10 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

// duration is a time.Duration flag whose default prints as it is written
// in the README: 1h, 1m, 30s, 50ms (flag.Duration prints 1h0m0s).
type duration struct{ d *time.Duration }

func durationVar(fs *flag.FlagSet, d *time.Duration, name string, def time.Duration, usage string) {
	*d = def
	fs.Var(duration{d}, name, usage)
}

func (d duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 50ms, 30s or 1h")
	}
	*d.d = v
	return nil
}

func (d duration) String() string {
	if d.d == nil {
		return ""
	}
	return shortDuration(*d.d)
}

// shortDuration drops the zero minutes and seconds that Duration.String
// spells out: 1h0m0s is 1h, 1m0s is 1m, 1h30m0s is 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
