package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Source names the tier that answered a read.
type Source uint8

// Sources, in the order a read tries them.
const (
	SourceL1 Source = iota + 1
	SourceL2
	SourceStore
)

func (s Source) String() string {
	switch s {
	case SourceL1:
		return "l1"
	case SourceL2:
		return "l2"
	case SourceStore:
		return "store"
	}
	return "unknown"
}

// Result is the answer to a read. Value is nil when the key has no value;
// it is owned by the cache and must not be modified.
type Result struct {
	Value  []byte
	Source Source
}

// Config configures a Cache. Zero values take the documented defaults.
type Config struct {
	// Loader is the source of truth. Required.
	Loader Loader
	// L1 is the tier private to this process; the Cache wraps it in the
	// fill guard (see Local). nil disables L1.
	L1 Tier
	// L2 is the tier that all instances share; New subscribes L1 to its
	// invalidations. nil disables L2; then L1 is coherent only with the
	// writes of this process, so run a single instance.
	L2 Shared
	// Validate, when set, reports whether a value read from L2 under key is
	// one that this application stores there. A value it refuses is not
	// served or kept: it counts in Stats.L2Rejected, the read goes to the
	// Loader, and L2 is repaired. nil accepts every value.
	Validate func(key string, value []byte) bool
	// TTL of a value in both tiers, before jitter. Default 1h.
	TTL time.Duration
	// TTLOf, when set, gives the TTL of each value, capped by TTL, for
	// values that carry their own lifetime. It runs when a value is
	// stored, never on an L1 hit.
	TTLOf func(key string, value []byte) time.Duration
	// NegativeTTL of a "not found" entry, before jitter. Default 30s.
	NegativeTTL time.Duration
	// DegradedTTL caps the L1 TTL of entries filled while L2 is unreachable:
	// nothing invalidates them, so this is the staleness bound across
	// instances during an outage. Default 1s.
	DegradedTTL time.Duration
	// Jitter spreads each TTL uniformly by ±Jitter×TTL so that entries filled
	// together do not expire together. Default 0.1; negative disables it.
	Jitter float64
	// StoreTimeout bounds each call of the Loader. Default 2s.
	StoreTimeout time.Duration
	// RetryInterval is the time between retries of the L2 writes that
	// failed; with the L2 breaker's probe interval it bounds how long other
	// instances may serve a value that a write replaced during an outage.
	// Default 100ms.
	RetryInterval time.Duration
	// MaxQueued caps the keys whose failed L2 write waits for a retry.
	// Beyond it a failed write is only logged, and other instances may serve
	// the replaced value until its TTL. Default 100,000.
	MaxQueued int
	// LossWindow is how long after L2 acknowledged a write it may still
	// lose it: a Redis master that fails before its replica received the
	// write, and the replica is promoted. The Cache remembers the keys it
	// wrote in the last LossWindow (at most MaxQueued of them), and when a
	// Shared tier that is a LossReporter reports a possible loss, it
	// republishes them from the store. It must cover the replication lag
	// plus the time the tier takes to notice the fault. Default 10s;
	// negative disables it.
	LossWindow time.Duration
	// Logger receives L2 write failures. Default slog.Default().
	Logger *slog.Logger
}

// Cache is the read-through cache: L1 → L2 → Loader. It is safe for
// concurrent use. See the package documentation for its coherence rules.
type Cache struct {
	cfg    Config
	local  *Local
	shared Shared
	loader Loader
	flight singleflight.Group
	fresh  singleflight.Group // Refresh's loads
	outbox *outbox            // nil without L2
	recent *recent            // the keys written lately; nil without L2
	stats  counters
}

// New validates cfg and returns a Cache.
func New(cfg Config) (*Cache, error) {
	if cfg.Loader == nil {
		return nil, errors.New("core: Config.Loader is required")
	}
	setDefault(&cfg.TTL, time.Hour)
	setDefault(&cfg.NegativeTTL, 30*time.Second)
	setDefault(&cfg.DegradedTTL, time.Second)
	setDefault(&cfg.StoreTimeout, 2*time.Second)
	setDefault(&cfg.RetryInterval, 100*time.Millisecond)
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = 100_000
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.1
	}
	setDefault(&cfg.LossWindow, 10*time.Second)
	if cfg.Jitter < 0 {
		cfg.Jitter = 0
	}
	if cfg.Jitter >= 1 {
		return nil, fmt.Errorf("core: Config.Jitter %v must be below 1", cfg.Jitter)
	}
	if cfg.TTL < 0 || cfg.NegativeTTL < 0 || cfg.DegradedTTL < 0 || cfg.StoreTimeout < 0 || cfg.RetryInterval < 0 || cfg.MaxQueued < 0 {
		return nil, errors.New("core: durations and MaxQueued in Config must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cache{cfg: cfg, local: NewLocal(cfg.L1), shared: cfg.L2, loader: cfg.Loader}
	if c.shared != nil {
		c.shared.Subscribe(c.local)
		c.recent = newRecent(cfg.LossWindow, cfg.MaxQueued, time.Now)
		c.outbox = newOutbox(c.republish, c.recent, cfg.Logger, cfg.MaxQueued, cfg.RetryInterval)
		if r, ok := c.shared.(LossReporter); ok {
			r.OnLoss(c.outbox.reportLoss)
		}
	}
	return c, nil
}

// Close stops retrying failed L2 writes; it logs how many never reached L2.
// It closes neither the tiers nor the store. Closing twice is harmless.
func (c *Cache) Close() {
	if c.outbox == nil {
		return
	}
	if n := c.outbox.close(); n > 0 {
		c.cfg.Logger.Warn("writes not published to L2 at close; other instances may serve the old values until their TTL",
			"writes", n)
	}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Get reads key. It returns ErrNotFound (with the Source that knew it) when
// the key has no value, and the Loader's error when the key is in no cache
// and the Loader fails. An L1 hit does not allocate.
//
// A miss joins the one load of key in flight in this process, if any. That
// load runs under context.WithoutCancel(ctx) with its own deadlines, so ctx
// ending returns ctx.Err() to this caller only. Do not pass a
// *fasthttp.RequestCtx: the load may outlive the request.
func (c *Cache) Get(ctx context.Context, key string) (Result, error) {
	if val, found, ok := c.local.Get(key); ok {
		c.stats.l1Hits.Add(1)
		return answer(val, found, SourceL1)
	}
	c.stats.l1Misses.Add(1)
	return c.coalesce(ctx, &c.flight, key, func(ctx context.Context, key string) (Result, error) {
		c.stats.flights.Add(1)
		return c.load(ctx, key)
	})
}

// coalesce runs load for key once among the concurrent callers of g, and
// returns its result. load runs under context.WithoutCancel(ctx), so ctx
// ending returns ctx.Err() to this caller only; a panic in it becomes an
// error for every caller.
func (c *Cache) coalesce(ctx context.Context, g *singleflight.Group, key string, load func(context.Context, string) (Result, error)) (Result, error) {
	key = strings.Clone(key) // kept by the flight beyond this call
	run := func() (r any, err error) {
		// singleflight re-panics a load's panic in a new goroutine (DoChan)
		// or in every caller (Do): turn it into an error here.
		defer func() {
			if v := recover(); v != nil {
				r, err = Result{}, fmt.Errorf("core: load of %q panicked: %v\n%s", key, v, debug.Stack())
			}
		}()
		return load(context.WithoutCancel(ctx), key)
	}
	if ctx.Done() == nil {
		// ctx cannot end, so the caller may as well run the load: no
		// goroutine to start and grow a stack for, on every miss.
		r, err, _ := g.Do(key, run)
		return r.(Result), err
	}
	ch := g.DoChan(key, run)
	select {
	case r := <-ch:
		return r.Val.(Result), r.Err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

func answer(val []byte, found bool, src Source) (Result, error) {
	if !found {
		return Result{Source: src}, ErrNotFound
	}
	return Result{Value: val, Source: src}, nil
}

// loadStore reads key from the Loader under StoreTimeout. It returns the
// entry, or the Loader's failure; "not found" is an Entry, not an error.
func (c *Cache) loadStore(ctx context.Context, key string) (Entry, error) {
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	val, version, err := c.loader.Load(sctx, key)
	switch {
	case err == nil:
		return Entry{Value: val, Version: version, Found: true}, nil
	case errors.Is(err, ErrNotFound):
		return Entry{Version: version}, nil
	}
	return Entry{}, err
}

// load is the one read of key per process at a time: L1 again, L2, store.
func (c *Cache) load(ctx context.Context, key string) (Result, error) {
	// Look again: the flight before this one may have filled L1 after our
	// caller's miss.
	if val, found, ok := c.local.Get(key); ok {
		return answer(val, found, SourceL1)
	}
	ticket := c.local.Begin(key)
	// A key whose last write has not reached L2 yet is read from the store:
	// L2 may still hold the value that write replaced.
	queued := c.outbox != nil && c.outbox.has(key)
	useL2 := c.shared != nil && !queued // and, once asked, L2 answered
	l2Missed := false                   // L2 answered that it holds nothing for key
	rejected := false                   // L2 held a value this cache does not write
	if useL2 {
		v, ok, err := c.shared.Get(ctx, key)
		switch {
		case errors.Is(err, ErrBadValue), err == nil && ok && c.cfg.Validate != nil && !c.cfg.Validate(key, v):
			// Not a value this cache writes: read the store, and the write
			// below repairs L2.
			c.stats.l2Rejected.Add(1)
			rejected = true
			c.cfg.Logger.Warn("L2 holds a value this cache did not write: serving the store's and repairing L2",
				"key", key, "bytes", len(v), "err", err)
		case err != nil:
			c.stats.l2Errors.Add(1)
			useL2 = false
		case ok:
			c.stats.l2Hits.Add(1)
			c.local.Fill(key, ticket, v, true, c.ttl(key, Entry{Value: v, Found: true}, c.cfg.TTL))
			return answer(v, true, SourceL2)
		default:
			// A miss, or a "not found" marker: that keeps fills that loaded
			// before a delete out of L2, and answers no read. "Not found"
			// comes from the store, so a marker set over a value that
			// exists answers nothing (the write below repairs it).
			c.stats.l2Misses.Add(1)
			l2Missed = true
		}
	}

	c.stats.storeLoads.Add(1)
	e, err := c.loadStore(ctx, key)
	if err != nil {
		c.stats.storeErrors.Add(1)
		return Result{Source: SourceStore}, err
	}
	switch {
	case queued:
		// The retry will publish; L1 would not hear of the next write.
	case useL2 && !c.local.Valid(key, ticket):
		// A write of key, a FLUSHALL or a lost connection came while we
		// loaded. After a FLUSHALL, L2 no longer knows the newer version
		// that would refuse our older one: leave the fill to the next read.
	case useL2 && l2Missed && !e.Found:
		// A "not found" stays out of L2, so that a flood of unknown keys
		// costs the shared tier nothing. L1 may keep it: the L2 read that
		// missed made L2 report the next change of key to this process,
		// and nothing of ours ends that (no L2 write follows). A write
		// anywhere therefore drops the entry, or, if it came after the
		// ticket, makes Fill refuse it.
		c.local.Fill(key, ticket, nil, false, c.ttl(key, e, c.cfg.TTL))
	case useL2:
		// No L1 fill: Shared promises to report changes of key only until
		// the next one, and our own L2 write is one, so an L1 entry might
		// not hear of the write after it. The next read fills L1 from L2.
		// The write carries the loaded version, so it never replaces a
		// newer write.
		if repaired, err := c.setL2(ctx, key, e); err != nil {
			c.stats.l2Errors.Add(1)
		} else if repaired && !rejected {
			c.stats.l2Rejected.Add(1)
		}
	case c.shared == nil:
		c.local.Fill(key, ticket, e.Value, e.Found, c.ttl(key, e, c.cfg.TTL))
	default: // L2 configured but unreachable: nothing will invalidate this entry.
		c.local.Fill(key, ticket, e.Value, e.Found, c.ttl(key, e, c.cfg.DegradedTTL))
	}
	return answer(e.Value, e.Found, SourceStore)
}

// setL2 writes e, the state of key at e.Version, into L2.
//
// When L2 refuses because it holds a higher version, the store decides
// whether that version is real. Either the store has a write of key at
// that version or later (L2 already holds something newer than e, and
// that write's own publish takes care of the rest), or no write of the
// store ever gave it: a value set by hand, or left by a store that was
// recreated or restored from a backup and counts from lower versions. The
// second kind is replaced with what the store holds now, so an acknowledged
// write always ends up in L2, whatever L2 held; setL2 then reports that it
// repaired L2.
func (c *Cache) setL2(ctx context.Context, key string, e Entry) (repaired bool, err error) {
	stored, held, err := c.shared.SetVersion(ctx, key, e, c.ttl(key, e, c.cfg.TTL))
	if err != nil || stored || held <= e.Version {
		return false, err
	}
	cur, err := c.loadStore(ctx, key)
	if err != nil {
		return false, err
	}
	if cur.Version >= held {
		return false, nil
	}
	c.cfg.Logger.Warn("L2 holds a version that no write of the store gave: replacing it with the store's",
		"key", key, "l2_version", held, "store_version", cur.Version)
	ttl := c.ttl(key, cur, c.cfg.TTL)
	replaced, err := c.shared.Replace(ctx, key, cur, held, ttl)
	if err != nil {
		return false, err
	}
	if !replaced {
		// L2 changed since SetVersion refused: let the versions decide again.
		_, _, err = c.shared.SetVersion(ctx, key, cur, ttl)
		return false, err
	}
	// Replace matched on the version alone. A write of key that the store
	// gave that very version (a restored store counting up to it) may have
	// reached L2 between our store read and Replace, and Replace overwrote
	// it. Such a write committed before it reached L2, so a second store
	// read sees it (or a later write): publish that.
	now, err := c.loadStore(ctx, key)
	if err != nil {
		return true, err
	}
	if now.Version != cur.Version {
		_, _, err = c.shared.SetVersion(ctx, key, now, c.ttl(key, now, c.cfg.TTL))
		return true, err
	}
	return true, nil
}

// ttl returns the jittered TTL for e, the state of key: the negative TTL
// for "not found", TTLOf's when set, else TTL; capped by limit.
func (c *Cache) ttl(key string, e Entry, limit time.Duration) time.Duration {
	d := c.cfg.TTL
	switch {
	case !e.Found:
		d = c.cfg.NegativeTTL
	case c.cfg.TTLOf != nil:
		d = c.cfg.TTLOf(key, e.Value)
	}
	d = min(d, limit)
	if c.cfg.Jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * c.cfg.Jitter * float64(d))
	}
	return max(d, time.Millisecond)
}

// Refresh loads key from the Loader now, whatever the tiers hold, and
// stores what it loaded as a miss would: into L2 with its version, or into
// L1 when there is no L2 or L2 is down. It is for values that go stale by
// their own content, such as a value that carries the time it was made:
// after Refresh returns, Get answers what it loaded or something newer.
// Concurrent refreshes of a key in this process share one load, which runs
// like Get's.
func (c *Cache) Refresh(ctx context.Context, key string) (Result, error) {
	return c.coalesce(ctx, &c.fresh, key, c.refresh)
}

func (c *Cache) refresh(ctx context.Context, key string) (Result, error) {
	ticket := c.local.Begin(key)
	c.stats.storeLoads.Add(1)
	e, err := c.loadStore(ctx, key)
	if err != nil {
		c.stats.storeErrors.Add(1)
		return Result{Source: SourceStore}, err
	}
	switch {
	case c.outbox != nil && c.outbox.has(key):
		// The retry will publish.
	case c.shared == nil:
		// Replaces the entry, unless a write came meanwhile.
		c.local.Fill(key, ticket, e.Value, e.Found, c.ttl(key, e, c.cfg.TTL))
	default:
		repaired, err := c.setL2(ctx, key, e)
		if repaired {
			c.stats.l2Rejected.Add(1)
		}
		if err != nil {
			c.stats.l2Errors.Add(1)
			c.local.Fill(key, ticket, e.Value, e.Found, c.ttl(key, e, c.cfg.DegradedTTL))
			break
		}
		// L2 holds e or something newer. L2 reported its change, unless it
		// held this very entry already: drop the old entry either way, and
		// the next read fills from L2.
		c.local.Invalidate([]string{key})
	}
	return answer(e.Value, e.Found, SourceStore)
}

// Publish makes the caches follow a write of key that the application
// made in the store, which gave it version: value is the key's new value,
// as Load would return it. Call it after the store acknowledged the write
// and before acknowledging it to the writer; when Publish returns, no read
// of this process answers an older value, and other instances drop theirs
// within the L2 tier's invalidation delay.
func (c *Cache) Publish(ctx context.Context, key string, value []byte, version uint64) {
	c.publish(ctx, key, Entry{Value: value, Version: version, Found: true})
}

// PublishNotFound is Publish for a write that left key without a value (a
// delete) at version.
func (c *Cache) PublishNotFound(ctx context.Context, key string, version uint64) {
	c.publish(ctx, key, Entry{Version: version})
}

// Reload is Publish for a write of key whose new state the application
// cannot give: key is dropped from this process's L1 and republished from
// the Loader through the queue of failed writes, which other instances
// hear of once it lands; until then this process reads key from the
// Loader. Without L2, only L1 is dropped.
func (c *Cache) Reload(key string) {
	key = strings.Clone(key)
	defer c.flight.Forget(key)
	c.local.Invalidate([]string{key})
	if c.shared == nil {
		return
	}
	c.recent.add(key)
	c.outbox.put(key)
	// As in publish: a read between the first drop and the queue may have
	// filled L1 from the old L2 value.
	c.local.Invalidate([]string{key})
}

// publish makes the caches follow a write that the store acknowledged.
//
// The local invalidation discards every L1 fill that began before it (it may
// carry the old value). L2 then gets the new entry, which makes it
// invalidate every other instance that read key; the Shared tier returns
// only after this process has processed its own invalidation, so the next
// read here cannot be served the old value by L2 either. A write that L2
// did not take goes to the outbox, which republishes it. Last, reads stop
// joining a load that began before the write: it may have read the old
// value.
//
// L1 is not filled here: see "Coherence" in the package documentation.
func (c *Cache) publish(ctx context.Context, key string, e Entry) {
	defer c.flight.Forget(key)
	c.local.Invalidate([]string{key})
	if c.shared == nil {
		return
	}
	c.recent.add(key)
	repaired, err := c.setL2(context.WithoutCancel(ctx), key, e)
	if repaired {
		c.stats.l2Rejected.Add(1)
	}
	if err != nil {
		c.stats.l2Errors.Add(1)
		// Queued before the write is acknowledged, so every later read here
		// goes to the store until the retry lands. A read that began after
		// the invalidation above but before the queue may have filled L1
		// from the old L2 value, and no invalidation will come for a write
		// that did not happen: drop L1 again.
		c.outbox.put(key)
		c.local.Invalidate([]string{key})
	}
}

// republish writes what the store holds for key into L2, with its version.
func (c *Cache) republish(key string) error {
	e, err := c.loadStore(context.Background(), key)
	if err != nil {
		return err
	}
	repaired, err := c.setL2(context.Background(), key, e)
	if repaired {
		c.stats.l2Rejected.Add(1)
	}
	if err == nil {
		// L2 may lose this write too. A key still remembered keeps its
		// time, so that republishing at every loss report does not keep
		// it forever.
		c.recent.addIfAbsent(key)
	}
	return err
}

// Ready reports the state of L2 ("ok", "degraded" or "disabled") and, when
// the Loader is a Pinger, whether it answers.
func (c *Cache) Ready(ctx context.Context) (l2 string, storeErr error) {
	l2 = "disabled"
	if c.shared != nil {
		l2 = c.shared.Status()
	}
	p, ok := c.loader.(Pinger)
	if !ok {
		return l2, nil
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	return l2, p.Ping(sctx)
}

// Stats is a snapshot of the per-tier counters.
type Stats struct {
	L1Hits, L1Misses           uint64
	L2Hits, L2Misses, L2Errors uint64
	// L2Rejected counts values that L2 held wrongly: read values that this
	// cache does not write, and versions that no write of the store gave.
	// Each was answered from the store and replaced in L2.
	L2Rejected uint64
	// L2Refused counts calls that L2 answered but refused, when the Shared
	// tier is a RefusalCounter (see there); they count in L2Errors too
	// when the Cache made them.
	L2Refused               uint64
	StoreLoads, StoreErrors uint64
	// Coalesced counts callers that took another caller's load instead of
	// their own.
	Coalesced uint64
	// Queued is the number of writes waiting to be retried into L2.
	Queued uint64
}

type counters struct {
	l1Hits, l1Misses           atomic.Uint64
	l2Hits, l2Misses, l2Errors atomic.Uint64
	l2Rejected                 atomic.Uint64
	storeLoads, storeErrors    atomic.Uint64
	flights                    atomic.Uint64 // loads run; each L1 miss ran one or joined one
}

// Stats returns the counters since New.
func (c *Cache) Stats() Stats {
	s := &c.stats
	// Each flight counts after the miss of the caller that runs it, so
	// reading flights first keeps it at most the misses read next.
	flights := s.flights.Load()
	st := Stats{
		L1Hits: s.l1Hits.Load(), L1Misses: s.l1Misses.Load(),
		L2Hits: s.l2Hits.Load(), L2Misses: s.l2Misses.Load(), L2Errors: s.l2Errors.Load(), L2Rejected: s.l2Rejected.Load(),
		StoreLoads: s.storeLoads.Load(), StoreErrors: s.storeErrors.Load(),
	}
	st.Coalesced = st.L1Misses - flights
	if c.outbox != nil {
		st.Queued = uint64(c.outbox.len())
	}
	if r, ok := c.shared.(RefusalCounter); ok {
		st.L2Refused = r.Refused()
	}
	return st
}

// TTL is Config.TTL after defaults.
func (c *Cache) TTL() time.Duration { return c.cfg.TTL }

// StoreTimeout is Config.StoreTimeout after defaults: the deadline that an
// application should give its own writes to the store.
func (c *Cache) StoreTimeout() time.Duration { return c.cfg.StoreTimeout }
