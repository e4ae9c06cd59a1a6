package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/core"
)

// Config configures a Tier. Zero values take the documented defaults.
type Config struct {
	// URL of Redis, as rueidis.ParseURL reads it: redis://host:port/db,
	// rediss:// for TLS. Several addresses (?addr=host2:port) mean a cluster.
	// Required.
	URL string
	// Prefix of every key. Default "tiercache:user:".
	Prefix string
	// Invalidator receives the keys (without Prefix) that Redis invalidates.
	// Required.
	Invalidator core.Invalidator
	// Timeout bounds each call. Default 50ms.
	Timeout time.Duration
	// LocalBytes is rueidis' client-side cache per connection; it can be
	// small because L1 holds the users. Default 8 MiB.
	LocalBytes int
	// LocalTTL caps how long rueidis keeps a local copy; Redis' own TTL
	// caps it too. Default 1h.
	LocalTTL time.Duration
	// BreakerThreshold is the number of consecutive failed calls that opens
	// the breaker. Default 3.
	BreakerThreshold int
	// ProbeInterval is the time between PINGs while the breaker is open.
	// Default 500ms.
	ProbeInterval time.Duration
	// KeepAlive is the idle PING interval; with ConnWriteTimeout it bounds
	// how long a stalled Redis goes unnoticed. Default 250ms.
	KeepAlive time.Duration
	// ConnWriteTimeout is the read/write deadline of the connection and the
	// PING timeout. Default 1s.
	ConnWriteTimeout time.Duration
	// Logger receives the breaker's transitions. Default slog.Default().
	Logger *slog.Logger
}

// Tier is the L2 core.Shared on Redis. It is safe for concurrent use.
type Tier struct {
	cfg    Config
	client rueidis.Client

	open     atomic.Bool  // breaker
	failures atomic.Int32 // consecutive failed calls
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

var _ core.Shared = (*Tier)(nil)

// New connects to Redis. Redis being down is not an error: the tier starts
// with its breaker open and keeps reconnecting. A bad URL, or a Redis that
// cannot do client tracking, is.
func New(cfg Config) (*Tier, error) {
	if cfg.Invalidator == nil {
		return nil, errors.New("redis: Config.Invalidator is required")
	}
	opt, err := rueidis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: cannot parse URL: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tiercache:user:"
	}
	setDefault(&cfg.Timeout, 50*time.Millisecond)
	setDefault(&cfg.LocalTTL, time.Hour)
	setDefault(&cfg.ProbeInterval, 500*time.Millisecond)
	setDefault(&cfg.KeepAlive, 250*time.Millisecond)
	setDefault(&cfg.ConnWriteTimeout, time.Second)
	if cfg.LocalBytes == 0 {
		cfg.LocalBytes = 8 << 20
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	t := &Tier{cfg: cfg, stop: make(chan struct{})}
	opt.ForceSingleClient = len(opt.InitAddress) == 1 // no CLUSTER probe; usable while down
	opt.PipelineMultiplex = -1                        // one connection per node: see "Read-your-writes"
	opt.DisableRetry = true                           // our deadlines and breaker bound every call
	opt.CacheSizeEachConn = cfg.LocalBytes
	opt.Dialer = net.Dialer{Timeout: time.Second, KeepAlive: cfg.KeepAlive}
	opt.ConnWriteTimeout = cfg.ConnWriteTimeout
	opt.OnInvalidations = t.onInvalidations

	client, err := rueidis.NewClient(opt)
	switch {
	case client == nil:
		return nil, fmt.Errorf("redis: cannot connect to %s: %w", redact(cfg.URL), err)
	case errors.Is(err, rueidis.ErrNoCache):
		client.Close()
		return nil, fmt.Errorf("redis: %s does not support CLIENT TRACKING (RESP3), which L1 coherence needs: %w",
			redact(cfg.URL), err)
	}
	t.client = client
	if err != nil {
		t.trip(err)
	}
	return t, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// redact drops a password from a URL for logging.
func redact(u string) string {
	if i, j := strings.Index(u, "://"), strings.LastIndex(u, "@"); i >= 0 && j > i {
		return u[:i+3] + "…@" + u[j+1:]
	}
	return u
}

// onInvalidations runs on a connection's reader goroutine: it must not
// block and must not call Redis.
func (t *Tier) onInvalidations(ms []rueidis.RedisMessage) {
	if ms == nil {
		t.cfg.Invalidator.Invalidate(nil)
		return
	}
	keys := make([]string, 0, len(ms))
	for _, m := range ms {
		if k, err := m.ToString(); err == nil && strings.HasPrefix(k, t.cfg.Prefix) {
			keys = append(keys, k[len(t.cfg.Prefix):])
		}
	}
	if len(keys) > 0 {
		t.cfg.Invalidator.Invalidate(keys)
	}
}

// Get reads key through rueidis' client-side cache; Redis tracks it for
// this connection from then on.
func (t *Tier) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if t.open.Load() {
		return nil, false, core.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	cmd := t.client.B().Get().Key(t.cfg.Prefix + key).Cache()
	v, err := t.client.DoCache(ctx, cmd, t.cfg.LocalTTL).AsBytes()
	if rueidis.IsRedisNil(err) {
		t.succeeded()
		return nil, false, nil
	}
	if err = t.result(err); err != nil {
		return nil, false, fmt.Errorf("redis: cannot get: %w", err)
	}
	return v, true, nil
}

// Set stores val under key for ttl, replacing any value.
func (t *Tier) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	k := t.cfg.Prefix + key
	_, err := t.write(ctx, k, t.client.B().Set().Key(k).Value(rueidis.BinaryString(val)).PxMilliseconds(ttl.Milliseconds()).Build())
	return err
}

// Add stores val only when key holds nothing (SET NX).
func (t *Tier) Add(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	k := t.cfg.Prefix + key
	return t.write(ctx, k, t.client.B().Set().Key(k).Value(rueidis.BinaryString(val)).Nx().PxMilliseconds(ttl.Milliseconds()).Build())
}

// Del removes key.
func (t *Tier) Del(ctx context.Context, key string) error {
	k := t.cfg.Prefix + key
	_, err := t.write(ctx, k, t.client.B().Del().Key(k).Build())
	return err
}

// write sends cmd and a barrier read of key on the same connection (see
// "Read-your-writes"). It reports false when cmd answered nil (SET NX that
// did not set).
func (t *Tier) write(ctx context.Context, key string, cmd rueidis.Completed) (bool, error) {
	if t.open.Load() {
		return false, core.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	rs := t.client.DoMulti(ctx, cmd, t.client.B().Exists().Key(key).Build())
	err := rs[0].Error()
	if rueidis.IsRedisNil(err) {
		err = rs[1].Error()
		return false, t.resultErr(err)
	}
	if err == nil {
		err = rs[1].Error()
	}
	return true, t.resultErr(err)
}

func (t *Tier) resultErr(err error) error {
	if err = t.result(err); err != nil {
		return fmt.Errorf("redis: cannot write: %w", err)
	}
	return nil
}

// result feeds the breaker with the outcome of a call. Redis error replies
// (WRONGTYPE, …) mean Redis answered, so they do not count as failures; a
// failed dial opens the breaker at once.
func (t *Tier) result(err error) error {
	if err == nil {
		t.succeeded()
		return nil
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		t.succeeded()
		return err
	}
	// A refused dial is certain; a timeout may be a blip, so it takes
	// BreakerThreshold in a row.
	var op *net.OpError
	if int(t.failures.Add(1)) >= t.cfg.BreakerThreshold || errors.As(err, &op) && op.Op == "dial" {
		t.trip(err)
	}
	return err
}

func (t *Tier) succeeded() {
	if t.failures.Load() != 0 {
		t.failures.Store(0)
	}
}

// trip opens the breaker, once, and starts the probe.
func (t *Tier) trip(cause error) {
	if !t.open.CompareAndSwap(false, true) {
		return
	}
	t.cfg.Logger.Warn("redis unreachable: serving from L1 and the store, reconnecting in the background",
		"redis", redact(t.cfg.URL), "err", cause)
	t.wg.Add(1)
	go t.probe()
}

// probe PINGs until Redis answers, then closes the breaker.
func (t *Tier) probe() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.ConnWriteTimeout)
		err := t.client.Do(ctx, t.client.B().Ping().Build()).Error()
		cancel()
		if err != nil {
			continue
		}
		// L1 entries filled during the outage were never tracked: drop them
		// before L2 serves again.
		t.cfg.Invalidator.Invalidate(nil)
		t.failures.Store(0)
		t.open.Store(false)
		t.cfg.Logger.Info("redis reachable again", "redis", redact(t.cfg.URL))
		return
	}
}

// Status is "ok", or "degraded" while the breaker is open.
func (t *Tier) Status() string {
	if t.open.Load() {
		return "degraded"
	}
	return "ok"
}

// Close stops the probe and closes the client.
func (t *Tier) Close() {
	t.once.Do(func() {
		close(t.stop)
		t.wg.Wait()
		t.client.Close()
	})
}
