package redis

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/core"
	redacturl "github.com/tiercache/tiercache/internal/redact"
)

// Config configures a Tier. Zero values take the documented defaults.
type Config struct {
	// URL of Redis, as rueidis.ParseURL reads it: redis://host:port/db,
	// rediss:// for TLS. One address may be a single Redis or any node of
	// a Redis Cluster (the node is asked); several (?addr=host2:port) mean
	// a cluster. Required.
	URL string
	// Prefix of every key; the tier tracks every key under it. Keys that
	// start with "#probe{" are the breaker's own. Default "tiercache:".
	Prefix string
	// Timeout bounds each call, to within Timeout/16 more for calls whose
	// context cannot end (see Tier.timeout). Default 50ms.
	Timeout time.Duration
	// MaxValueBytes bounds what Get reads of a value: for a longer one,
	// which only a hand or another program can have set, Get reads one byte
	// more and returns core.ErrBadValue, without transferring or keeping
	// megabytes. Default 1 MiB.
	MaxValueBytes int
	// BreakerThreshold is the number of consecutive failed calls on keys of
	// one slot group that opens its breaker. Default 3.
	BreakerThreshold int
	// ProbeInterval is the time between probes while a breaker is open.
	// Default 500ms.
	ProbeInterval time.Duration
	// KeepAlive is the idle PING interval; with ConnWriteTimeout it bounds
	// how long a stalled Redis goes unnoticed. Default 250ms.
	KeepAlive time.Duration
	// ConnWriteTimeout is the read/write deadline of the connection and the
	// PING timeout. Default 1s.
	ConnWriteTimeout time.Duration
	// FlushDelay, when positive, makes a connection's writer wait up to
	// this long after each write to the socket while other calls are in
	// flight, so that more commands share the next write: less client and
	// Redis CPU per call under concurrent load, for up to FlushDelay more
	// latency (rueidis' MaxFlushDelay; with 20µs, BenchmarkTierGet's 32
	// concurrent readers cost about a fifth less client CPU per read). A
	// call alone in flight never waits. Default 0: no wait.
	FlushDelay time.Duration
	// TLS sets the CA and the client certificate for a rediss:// URL; see
	// TLS. Default: the system's roots, no client certificate.
	TLS TLS
	// Logger receives the breaker's transitions. Default slog.Default().
	Logger *slog.Logger
}

// Tier is the L2 core.Shared on Redis. It is safe for concurrent use.
type Tier struct {
	cfg Config
	opt rueidis.ClientOption // to build the client while Redis was down at New
	// client is set once: by New, or, when Redis was down then, by the
	// probe before it closes a breaker. Calls use it only while their
	// group's breaker is closed, so they see it set (the atomic store
	// that closes the breaker orders it); the probe and Close read it
	// under mu or after the probe ended.
	client rueidis.Client
	// getRange is the end argument of Get's GETRANGE, formatted once.
	getRange string
	// deadline is the latest shared deadline; see timeout.
	deadline atomic.Pointer[sharedDeadline]
	// single is set with client, when it is not a cluster client, before
	// any breaker closes: then every key maps to groups[0], else to its
	// slot's group (and before the client exists, every group is open).
	single atomic.Bool

	groups    [groups]group // breakers; see "Failures" in the package doc
	openCount atomic.Int32  // of groups open
	refused   atomic.Uint64
	onLoss    atomic.Pointer[func()]           // see OnLoss
	inv       atomic.Pointer[core.Invalidator] // see Subscribe

	mu      sync.Mutex // orders probe starts before Close's wait
	closed  bool
	probing bool // a probe goroutine runs; under mu
	stop    chan struct{}
	probes  sync.WaitGroup
}

// trackingCacheBytes is the budget of rueidis' client-side cache, which
// must be on for tracking but holds nothing: no read goes through it.
const trackingCacheBytes = 1 << 16

// groups is the number of breakers on a cluster: each covers 256
// consecutive slots (slot>>8), so a master's slots fall in about 64/masters
// groups and one dead master opens only those. A single Redis uses
// groups[0] alone.
const groups = 64

// group is the breaker of a slot group.
type group struct {
	open     atomic.Bool
	failures atomic.Int32 // consecutive failed calls
	// probeKey is a key under the prefix whose slot is in the group and
	// that the application must not use, so the probe's DEL never touches
	// a value: Prefix + "#probe{TAG}".
	probeKey string
}

// probeTags holds, for each group, a hash tag whose slot is in it.
var probeTags = func() (tags [groups]string) {
	for i, found := 0, 0; found < groups; i++ {
		tag := strconv.Itoa(i)
		if g := keySlot(tag) >> 8; tags[g] == "" {
			tags[g] = tag
			found++
		}
	}
	return tags
}()

var (
	_ core.Shared         = (*Tier)(nil)
	_ core.RefusalCounter = (*Tier)(nil)
	_ core.LossReporter   = (*Tier)(nil)
)

// New connects to Redis. Redis being down is not an error, nor is every
// node of a cluster being down: the tier starts with its breaker open and
// keeps trying to connect. A bad URL, a Redis that refuses the connection
// or client tracking, or TLS that cannot work (see TLS), is.
func New(cfg Config) (*Tier, error) {
	opt, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tiercache:"
	}
	setDefault(&cfg.Timeout, 50*time.Millisecond)
	setDefault(&cfg.ProbeInterval, 500*time.Millisecond)
	setDefault(&cfg.KeepAlive, 250*time.Millisecond)
	setDefault(&cfg.ConnWriteTimeout, time.Second)
	if cfg.MaxValueBytes <= 0 {
		cfg.MaxValueBytes = 1 << 20
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := useTLS(&opt, cfg); err != nil {
		return nil, err
	}

	t := &Tier{cfg: cfg, stop: make(chan struct{}), getRange: strconv.FormatInt(int64(getLimit(cfg)), 10)}
	for i := range t.groups {
		t.groups[i].probeKey = cfg.Prefix + "#probe{" + probeTags[i] + "}"
	}
	// No ForceSingleClient: rueidis asks the first node it reaches for
	// CLUSTER SLOTS and falls back to a single-node client only when that
	// answers that cluster support is disabled (rueidis.NewClient), so one
	// seed address finds a whole cluster. A seed that is down makes
	// NewClient fail instead of returning a client that reconnects; the
	// probe then builds the client once Redis answers.
	opt.PipelineMultiplex = -1 // one connection per node: see "Read-your-writes"
	opt.DisableRetry = true    // our deadlines and breaker bound every call
	opt.MaxFlushDelay = max(cfg.FlushDelay, 0)
	// rueidis turns tracking on, and hands us its pushes, only with its
	// client-side cache enabled; reads do not use that cache, so it
	// stays empty and its size does not matter.
	opt.CacheSizeEachConn = trackingCacheBytes
	opt.Dialer = net.Dialer{Timeout: time.Second, KeepAlive: cfg.KeepAlive}
	opt.ConnWriteTimeout = cfg.ConnWriteTimeout
	opt.OnInvalidations = t.onInvalidations
	opt.ClientTrackingOptions = []string{"PREFIX", cfg.Prefix, "BCAST"}

	t.opt = opt

	client, err := t.connect()
	if rerr := cmp.Or(refused(cfg.URL, err), tlsRefused(cfg, opt, err)); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		// No client, so no mode yet: every group is open until the probe
		// builds the client.
		t.tripAll(err)
		return t, nil
	}
	t.client = client
	t.single.Store(client.Mode() != rueidis.ClientModeCluster)
	return t, nil
}

// connect builds the rueidis client: a non-nil client and a nil error, or
// a nil client and the error.
//
// rueidis falls back to a single-node client when CLUSTER SLOTS fails
// with any error that mentions CLUSTER, not only when cluster support is
// disabled: also for an ACL user without +cluster|slots on a cluster node.
// Such a client would get MOVED for every key on another master, so
// connect asks the node itself (INFO cluster) and refuses a cluster node
// in single-node mode with errSingleOnCluster. A node that does not answer
// INFO (an ACL without it) cannot be told apart; its MOVED replies are
// refusals (see refusal).
func (t *Tier) connect() (rueidis.Client, error) {
	client, err := rueidis.NewClient(t.opt)
	if err != nil {
		if client != nil {
			client.Close()
		}
		return nil, err
	}
	if client.Mode() == rueidis.ClientModeStandalone {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.ConnWriteTimeout)
		info, err := client.Do(ctx, client.B().Info().Section("cluster").Build()).ToString()
		cancel()
		if err == nil && strings.Contains(info, "cluster_enabled:1") {
			client.Close()
			return nil, errSingleOnCluster
		}
	}
	return client, nil
}

// errSingleOnCluster means that a cluster node refused CLUSTER SLOTS.
var errSingleOnCluster = errors.New("is a Redis Cluster node but refused CLUSTER SLOTS, so keys on the other nodes would answer MOVED: allow it (ACL +cluster|slots)")

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// redact hides the secrets of a URL for messages; see package redact.
func redact(u string) string { return redacturl.URL(u) }

// onInvalidations runs on a connection's reader goroutine: it must not
// block and must not call Redis.
func (t *Tier) onInvalidations(ms []rueidis.RedisMessage) {
	if ms == nil {
		// A lost connection: the node may be a master that died before
		// its replica received our last writes (or a FLUSHALL, which
		// lost them all).
		t.invalidate(nil)
		t.lost()
		return
	}
	keys := make([]string, 0, len(ms))
	for _, m := range ms {
		if k, err := m.ToString(); err == nil && strings.HasPrefix(k, t.cfg.Prefix) {
			keys = append(keys, k[len(t.cfg.Prefix):])
		}
	}
	if len(keys) > 0 {
		t.invalidate(keys)
	}
}

// Subscribe makes inv the receiver of the keys (without Prefix) that Redis
// invalidates, and of nil when every key may have changed; core.New calls
// it with the Cache's L1.
func (t *Tier) Subscribe(inv core.Invalidator) { t.inv.Store(&inv) }

// invalidate passes keys to the subscriber, if any.
func (t *Tier) invalidate(keys []string) {
	if inv := t.inv.Load(); inv != nil {
		(*inv).Invalidate(keys)
	}
}

// OnLoss registers f, which the tier calls whenever writes it acknowledged
// lately may be lost (see "Failover" in the package documentation). It
// replaces the f registered before; core.New registers the Cache's.
func (t *Tier) OnLoss(f func()) { t.onLoss.Store(&f) }

// lost calls the function registered with OnLoss, if any.
func (t *Tier) lost() {
	if f := t.onLoss.Load(); f != nil {
		(*f)()
	}
}

// Entries are stored as {"v":VERSION,"d":VAL}, and a "not found" as
// {"v":VERSION}: JSON when VAL is, readable with redis-cli, and with the
// version where the SetVersion script can find it without decoding. The
// marker lies outside VAL, so every VAL can be stored. Tier.Set stores
// version 0.
const (
	valuePrefix = `{"v":`
	dataField   = `,"d":`
)

func wrap(e core.Entry) string {
	b := make([]byte, 0, len(valuePrefix)+20+len(dataField)+len(e.Value)+1)
	b = append(b, valuePrefix...)
	b = strconv.AppendUint(b, e.Version, 10)
	if e.Found {
		b = append(b, dataField...)
		b = append(b, e.Value...)
	}
	return string(append(b, '}'))
}

// unwrap returns VAL of a stored value and found=true, or found=false for
// a "not found" marker; ok is false for a value that this package did not
// write.
func unwrap(v []byte) (val []byte, found, ok bool) {
	if !bytes.HasPrefix(v, []byte(valuePrefix)) || v[len(v)-1] != '}' {
		return nil, false, false
	}
	digits := v[len(valuePrefix) : len(v)-1]
	if i := bytes.IndexByte(digits, ','); i >= 0 {
		if !bytes.HasPrefix(digits[i:], []byte(dataField)) {
			return nil, false, false
		}
		val, digits = digits[i+len(dataField):], digits[:i]
		found = true
	}
	if len(digits) == 0 || len(digits) > 20 {
		return nil, false, false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return nil, false, false
		}
	}
	return val, found, true
}

// heldVersion is the Lua that sets v to the version of the value under
// KEYS[1], as decimal digits without leading zeros, or to nil for a value
// that this package did not write (no {"v":N, or {"v":N} head within its
// first 64 bytes, N past 2^64-1, or not a string at all). It reads only
// that head: a value of megabytes set by hand must not cost the script a
// copy of it.
const heldVersion = `
local v = redis.call('TYPE', KEYS[1]).ok == 'string' and
  string.match(redis.call('GETRANGE', KEYS[1], 0, 63), '^{"v":0*(%d-%d)[,}]')
if v and (#v > 20 or (#v == 20 and v > '18446744073709551615')) then v = nil end
`

// setVersionScript stores ARGV[2] with a PX of ARGV[3] unless the key holds
// a value with a version above ARGV[1], or ARGV[2] itself; then it returns
// the version held. Versions are compared as decimal strings (longer is
// larger), since Lua numbers lose integers past 2^53. A value that this
// package did not write is replaced, and so is another value of the same
// version: one store never gives one version two values.
const setVersionScript = `
local new = ARGV[1]` + heldVersion + `
if v and (#v > #new or (#v == #new and v > new) or
    (v == new and redis.call('STRLEN', KEYS[1]) == #ARGV[2] and redis.call('GET', KEYS[1]) == ARGV[2])) then
  return v
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false`

// replaceScript stores ARGV[2] with a PX of ARGV[3] if the key holds a
// value of version ARGV[4], and returns 1; else 0.
const replaceScript = heldVersion + `
if v ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`

// getLimit is the end argument of Get's GETRANGE: GETRANGE rather than GET
// bounds the read, at one byte past the longest value of ours. It answers
// "" for a missing key, and no value of ours is empty.
func getLimit(cfg Config) int {
	return len(valuePrefix) + 20 + len(dataField) + cfg.MaxValueBytes + 1
}

// Get reads key from Redis with one command. It does not go through
// rueidis' client-side cache (DoCache): L1 holds the hot keys, and the
// broadcast tracking of the prefix reports every change of key from the
// connection's start, read or not (see "Coherence").
//
// The value returned is a slice of the reply, which rueidis allocated for
// this call alone and no longer references: no copy is needed, and the
// caller must not modify it (core.Tier). A read allocates the full key and
// the reply, nothing else (TestGetAllocs): the deadline is shared (see
// timeout) and the command is built without formatting. The key cannot
// come from a pooled buffer: rueidis' writer goroutine copies it to the
// connection after taking the command from its queue, and nothing the
// race detector sees orders that copy before the reply.
func (t *Tier) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k := t.cfg.Prefix + key
	r, g, err := t.call(ctx, k, func(b rueidis.Builder) rueidis.Completed {
		// b.Getrange().Key(k).Start(0).End(limit).Build(), read-only too,
		// without formatting the limit each time.
		return b.Arbitrary("GETRANGE").Keys(k).Args("0", t.getRange).ReadOnly()
	})
	if err != nil {
		return nil, false, err
	}
	v, err := r.AsBytes()
	if rerr, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(rerr.Error(), "WRONGTYPE") {
		g.succeeded()
		return nil, false, fmt.Errorf("redis: %s holds another type than a string: %w", key, core.ErrBadValue)
	}
	if err = t.result(g, err); err != nil {
		return nil, false, fmt.Errorf("redis: cannot get: %w", err)
	}
	if len(v) == 0 {
		return nil, false, nil
	}
	val, found, ok := unwrap(v)
	switch {
	case len(v) > getLimit(t.cfg):
		return nil, false, fmt.Errorf("redis: %s holds more than %d bytes: %w", key, getLimit(t.cfg), core.ErrBadValue)
	case !ok:
		return nil, false, fmt.Errorf("redis: %s holds %d bytes not in the {\"v\":…,\"d\":…} form: %w", key, len(v), core.ErrBadValue)
	}
	// A "not found" marker answers as a miss (core.Shared).
	return val, found, nil
}

// Set stores val under key for ttl with version 0, replacing any value.
func (t *Tier) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	k := t.cfg.Prefix + key
	_, err := t.write(ctx, k, func(b rueidis.Builder) rueidis.Completed {
		return b.Set().Key(k).Value(wrap(core.Entry{Value: val, Found: true})).PxMilliseconds(ttl.Milliseconds()).Build()
	})
	return err
}

// SetVersion stores e under key for ttl unless key holds a higher
// version or this very entry, atomically (a Lua script); else it returns
// the version held.
func (t *Tier) SetVersion(ctx context.Context, key string, e core.Entry, ttl time.Duration) (bool, uint64, error) {
	k := t.cfg.Prefix + key
	r, err := t.write(ctx, k, func(b rueidis.Builder) rueidis.Completed {
		return b.Eval().Script(setVersionScript).Numkeys(1).Key(k).
			Arg(strconv.FormatUint(e.Version, 10), wrap(e), strconv.FormatInt(ttl.Milliseconds(), 10)).Build()
	})
	if err != nil {
		return false, 0, err
	}
	held, err := r.ToString()
	if rueidis.IsRedisNil(err) {
		return true, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("redis: SetVersion script answered %v", err)
	}
	v, err := strconv.ParseUint(held, 10, 64)
	if err != nil {
		return false, 0, fmt.Errorf("redis: SetVersion script answered %q", held)
	}
	return false, v, nil
}

// Replace stores e under key for ttl if key holds version held,
// atomically (a Lua script).
func (t *Tier) Replace(ctx context.Context, key string, e core.Entry, held uint64, ttl time.Duration) (bool, error) {
	k := t.cfg.Prefix + key
	r, err := t.write(ctx, k, func(b rueidis.Builder) rueidis.Completed {
		return b.Eval().Script(replaceScript).Numkeys(1).Key(k).
			Arg(strconv.FormatUint(e.Version, 10), wrap(e), strconv.FormatInt(ttl.Milliseconds(), 10),
				strconv.FormatUint(held, 10)).Build()
	})
	if err != nil {
		return false, err
	}
	n, err := r.AsInt64()
	return n == 1, err
}

// Del removes key.
func (t *Tier) Del(ctx context.Context, key string) error {
	k := t.cfg.Prefix + key
	_, err := t.write(ctx, k, func(b rueidis.Builder) rueidis.Completed { return b.Del().Key(k).Build() })
	return err
}

// call sends the command that build makes for the full key k, without a
// barrier, and returns its reply and k's breaker, which the caller feeds
// with the outcome (see result). It fails at once with
// core.ErrUnavailable while the breaker is open; the command is built only
// then, as in write.
func (t *Tier) call(ctx context.Context, k string, build func(rueidis.Builder) rueidis.Completed) (rueidis.RedisResult, *group, error) {
	g := t.group(k)
	if g.open.Load() {
		return rueidis.RedisResult{}, g, core.ErrUnavailable
	}
	ctx, cancel := t.timeout(ctx)
	defer cancel()
	return t.client.Do(ctx, build(t.client.B())), g, nil
}

// sharedDeadline is a context that ends at deadline, shared by the calls
// that start within Timeout/16 of each other; see timeout.
type sharedDeadline struct {
	ctx      context.Context
	cancel   context.CancelFunc // never called: ctx ends at its deadline
	deadline time.Time
}

// timeout returns the context of a call under ctx, which ends Timeout
// after now at the earliest, and the function to call once the call
// returned.
//
// A ctx that can end (Done is not nil) gets its own context.WithTimeout,
// which costs five allocations and a timer: ctx's end must reach the call.
// One that cannot, such as the context.WithoutCancel under which
// core.Cache loads, gets a context shared with the calls that start within
// Timeout/16 of it, which ends Timeout to Timeout*17/16 after each, so
// reads allocate no context and start no timer: one context and one timer
// per Timeout/16 under load. Values of ctx do not reach the call then;
// rueidis' Do reads none (it reads values only in Receive).
//
// A shared context is a plain context.WithDeadline that nothing reuses: a
// call that returned early (its own deadline, a dead connection) may leave
// it with rueidis, which is harmless, unlike a pooled context reset for
// the next call.
func (t *Tier) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Done() != nil {
		return context.WithTimeout(ctx, t.cfg.Timeout)
	}
	now := time.Now()
	if d := t.deadline.Load(); d != nil && d.deadline.Sub(now) >= t.cfg.Timeout {
		return d.ctx, noCancel
	}
	// Two calls may each make one here; the last stored serves the calls
	// after them, and each of the two uses its own.
	d := &sharedDeadline{deadline: now.Add(t.cfg.Timeout + t.cfg.Timeout/16)}
	d.ctx, d.cancel = context.WithDeadline(context.Background(), d.deadline)
	t.deadline.Store(d)
	return d.ctx, noCancel
}

// noCancel is the cancel function of a shared deadline: it ends by itself.
func noCancel() {}

// write sends the command that build makes and a barrier read of key on
// the same connection (see "Read-your-writes") and returns the command's
// reply. The command is built here, once the key's breaker is known
// closed: the client, whose builder computes the key's cluster slot, may
// not exist before.
func (t *Tier) write(ctx context.Context, key string, build func(rueidis.Builder) rueidis.Completed) (rueidis.RedisResult, error) {
	g := t.group(key)
	if g.open.Load() {
		return rueidis.RedisResult{}, core.ErrUnavailable
	}
	ctx, cancel := t.timeout(ctx)
	defer cancel()
	r := t.client.Do(ctx, build(t.client.B()))
	err := r.Error()
	if rueidis.IsRedisNil(err) { // a script's false
		err = nil
	}
	if err == nil {
		// The barrier goes out after the write's reply came back: Redis
		// queues a BCAST invalidation at the end of the event-loop pass
		// that ran the write, after that pass's replies, so a barrier
		// pipelined with the write could be answered before the push.
		// Without the barrier's answer, this process may not yet have
		// dropped the old value.
		err = t.client.Do(ctx, t.client.B().Exists().Key(key).Build()).Error()
	}
	if err = t.result(g, err); err != nil {
		return rueidis.RedisResult{}, fmt.Errorf("redis: cannot write: %w", err)
	}
	return r, nil
}

// group returns the breaker of the full Redis key k: by its slot on a
// cluster, and before the client exists (when every group is open).
func (t *Tier) group(k string) *group {
	if t.single.Load() {
		return &t.groups[0]
	}
	return &t.groups[keySlot(k)>>8]
}

// result feeds g, the breaker of the call's key, with the outcome of the
// call. A Redis error reply that refuses the call (see refusal) opens it
// at once, and so does a failed dial; other error replies (WRONGTYPE, OOM,
// …) mean that Redis serves, so they do not count as failures.
func (t *Tier) result(g *group, err error) error {
	if err == nil {
		g.succeeded()
		return nil
	}
	if rerr, ok := rueidis.IsRedisErr(err); ok {
		reason := refusal(rerr)
		if reason == "" {
			g.succeeded()
			return err
		}
		// Refused: retrying cannot help until someone or something
		// changes Redis (an ACL, a failover, a load that ends). A count
		// of consecutive failures would not do: reads that the same Redis
		// serves (a read-only replica, an ACL without writes) would reset
		// it between the refused writes.
		t.refused.Add(1)
		t.cfg.Logger.Warn("redis refused a call", "reason", reason, "redis", redact(t.cfg.URL), "err", err)
		t.trip(g, err)
		return err
	}
	// A refused dial is certain; a timeout may be a blip, so it takes
	// BreakerThreshold in a row.
	var op *net.OpError
	if int(g.failures.Add(1)) >= t.cfg.BreakerThreshold || errors.As(err, &op) && op.Op == "dial" {
		t.trip(g, err)
	}
	return err
}

func (g *group) succeeded() {
	if g.failures.Load() != 0 {
		g.failures.Store(0)
	}
}

// refusal returns the code of a Redis error reply that refuses the call,
// or "" for one that does not:
//   - NOPERM, and its form inside a script ("ERR The user executing the
//     script can't …"): the ACL user lacks a command or the key pattern;
//   - NOAUTH, WRONGPASS: a password that changed under a reconnection;
//   - READONLY, MASTERDOWN: a replica, not a master, answered;
//   - LOADING: Redis is loading its data set;
//   - CLUSTERDOWN: the cluster does not serve the key's slot;
//   - MOVED, ASK: the key lives on another node. rueidis' cluster client
//     follows both, so they reach the tier only from a client in
//     single-node mode on a cluster node.
//
// WRONGTYPE is not one (Get reports it as core.ErrBadValue), nor is OOM:
// Redis then still serves reads and deletes, and the writes it refuses
// wait in the outbox.
func refusal(rerr *rueidis.RedisError) string {
	msg := rerr.Error()
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "NOPERM", "NOAUTH", "WRONGPASS", "READONLY", "MASTERDOWN", "LOADING", "CLUSTERDOWN", "MOVED", "ASK":
		return code
	case "ERR":
		if strings.HasPrefix(msg, "ERR The user executing the script can't") {
			return "NOPERM"
		}
	}
	return ""
}

// Refused returns how many calls Redis refused (see refusal) since New,
// the probe's included.
func (t *Tier) Refused() uint64 { return t.refused.Load() }

// trip opens g, once, and starts the probe if it does not run.
func (t *Tier) trip(g *group, cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !g.open.CompareAndSwap(false, true) {
		return
	}
	if t.openCount.Add(1) == 1 {
		t.cfg.Logger.Warn("redis unavailable: serving from L1 and the store, retrying in the background",
			"redis", redact(t.cfg.URL), "err", cause)
	} else {
		t.cfg.Logger.Debug("redis unavailable for more slots", "redis", redact(t.cfg.URL), "err", cause,
			"open_groups", t.openCount.Load())
	}
	t.lost() // the failure may be a master's that took our last writes with it
	t.startProbe()
}

// tripAll opens every group: New could not build the client.
func (t *Tier) tripAll(cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.groups {
		t.groups[i].open.Store(true)
	}
	t.openCount.Store(groups)
	t.cfg.Logger.Warn("redis unavailable: serving from L1 and the store, retrying in the background",
		"redis", redact(t.cfg.URL), "err", cause)
	t.startProbe()
}

// startProbe starts the probe unless it runs; under mu.
func (t *Tier) startProbe() {
	if !t.probing {
		t.probing = true
		t.probes.Add(1)
		go t.probe()
	}
}

// probeScript deletes KEYS[1], which does not exist: a write that changes
// nothing and so sends no invalidation, yet that Redis refuses for every
// reason that it would refuse the tier's own calls: no EVAL or no write
// permission, a key outside the ACL user's patterns, a replica, a load in
// progress, a cluster that does not serve the slot.
const probeScript = `return redis.call('DEL', KEYS[1])`

// probe runs while any group is open. Every ProbeInterval it builds the
// client if New could not, then sends a probe call (probeScript) on the
// probe key of each open group, all in one DoMulti, which rueidis sends to
// each node in parallel, so a stalled node costs the others nothing; each
// group that Redis takes closes. A PING would not do: a Redis that refuses
// the tier's calls answers PING.
//
// One goroutine for all groups rather than one each: when a master's
// replica is promoted, its groups close in the same pass, and L1 is
// dropped once for them all instead of once per group.
func (t *Tier) probe() {
	defer t.probes.Done()
	tick := time.NewTicker(t.cfg.ProbeInterval)
	defer tick.Stop()
	var lastReason string // of the last refusal logged, so that a lasting one is logged once
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		client := t.client
		t.mu.Unlock()
		if client == nil {
			c, err := t.connect()
			if err != nil {
				if rerr := refused(t.cfg.URL, err); rerr != nil && rerr.Error() != lastReason {
					lastReason = rerr.Error()
					t.cfg.Logger.Warn("redis refused the connection", "redis", redact(t.cfg.URL), "err", rerr)
				}
				continue
			}
			t.mu.Lock()
			if t.closed {
				t.mu.Unlock()
				c.Close()
				return
			}
			single := c.Mode() != rueidis.ClientModeCluster
			t.client, client = c, c
			t.single.Store(single)
			t.mu.Unlock()
			if single {
				// Only groups[0] is used from now on. A call that chose
				// its group before single was set and saw it closed
				// after this may still feed that group; if it trips it,
				// the next pass probes and closes it, harmlessly.
				for i := 1; i < groups; i++ {
					if t.groups[i].open.CompareAndSwap(true, false) {
						t.openCount.Add(-1)
					}
				}
			}
		}
		var open []*group
		var cmds rueidis.Commands
		for i := range t.groups {
			if g := &t.groups[i]; g.open.Load() {
				open = append(open, g)
				cmds = append(cmds, client.B().Eval().Script(probeScript).Numkeys(1).Key(g.probeKey).Build())
			}
		}
		closed := 0
		if len(cmds) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), t.cfg.ConnWriteTimeout)
			results := client.DoMulti(ctx, cmds...)
			cancel()
			for i, r := range results {
				err := r.Error()
				if rerr, ok := rueidis.IsRedisErr(err); ok {
					// As in result: an error reply that is not a refusal
					// means that Redis serves.
					if reason := refusal(rerr); reason != "" {
						t.refused.Add(1)
						if reason != lastReason {
							lastReason = reason
							t.cfg.Logger.Warn("redis refused a call", "reason", reason, "redis", redact(t.cfg.URL), "err", err)
						}
						continue
					}
				} else if err != nil {
					continue
				}
				g := open[i]
				g.failures.Store(0)
				g.open.Store(false)
				t.openCount.Add(-1)
				closed++
			}
		}
		if closed > 0 {
			// L1 entries filled from the store while a group was open
			// were never tracked, and L1 does not know keys' slots: drop
			// it whole, once for all the groups that closed in this pass.
			// The groups closed first: a read that saw one open between
			// these two steps filled L1 in the old epoch, so the drop
			// covers it too.
			t.invalidate(nil)
			t.lost() // the outage may have been a failover that lost our last writes
			if t.openCount.Load() == 0 {
				t.cfg.Logger.Info("redis available again", "redis", redact(t.cfg.URL))
			}
		}
		t.mu.Lock()
		if t.openCount.Load() == 0 {
			t.probing = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
	}
}

// Status is "ok", or "degraded" while any breaker is open.
func (t *Tier) Status() string {
	if t.openCount.Load() > 0 {
		return "degraded"
	}
	return "ok"
}

// Close stops the probe and closes the client.
func (t *Tier) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	close(t.stop)
	t.mu.Unlock()
	t.probes.Wait()
	if t.client != nil {
		t.client.Close()
	}
}

// versionKey is the Redis key of key's write counter (see NextVersion).
func (t *Tier) versionKey(key string) string { return t.cfg.Prefix + "#v:" + key }

// Version returns the write counter of key, 0 when it has none. With
// NextVersion it gives versions to a source that has none of its own, such
// as an HTTP origin: read the counter before loading, and a write that
// bumps it afterwards gets a higher version than the load.
func (t *Tier) Version(ctx context.Context, key string) (uint64, error) {
	k := t.versionKey(key)
	r, g, err := t.call(ctx, k, func(b rueidis.Builder) rueidis.Completed { return b.Get().Key(k).Build() })
	if err != nil {
		return 0, err
	}
	v, err := r.AsUint64()
	if rueidis.IsRedisNil(err) {
		g.succeeded()
		return 0, nil
	}
	if err = t.result(g, err); err != nil {
		return 0, fmt.Errorf("redis: cannot read a version: %w", err)
	}
	return v, nil
}

// nextVersionScript increments KEYS[1] and makes it live ARGV[1] ms more.
const nextVersionScript = `local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v`

// NextVersion increments the write counter of key and returns it. The
// counter lives for ttl after its last increment: make ttl longer than any
// value of key lives in the tiers. Keys under Prefix+"#v:" are the counters.
func (t *Tier) NextVersion(ctx context.Context, key string, ttl time.Duration) (uint64, error) {
	k := t.versionKey(key)
	r, g, err := t.call(ctx, k, func(b rueidis.Builder) rueidis.Completed {
		return b.Eval().Script(nextVersionScript).Numkeys(1).Key(k).Arg(strconv.FormatInt(ttl.Milliseconds(), 10)).Build()
	})
	if err != nil {
		return 0, err
	}
	v, err := r.AsInt64()
	if err = t.result(g, err); err != nil {
		return 0, fmt.Errorf("redis: cannot take a version: %w", err)
	}
	return uint64(v), nil
}
