package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mapTier is a Tier on a map; it records the TTL of each Set.
type mapTier struct {
	mu   sync.Mutex
	m    map[string][]byte
	ttls map[string]time.Duration
}

func newMapTier() *mapTier {
	return &mapTier{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
}

func (t *mapTier) Get(_ context.Context, key string) ([]byte, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	return v, ok, nil
}

func (t *mapTier) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[key] = append([]byte(nil), val...)
	t.ttls[key] = ttl
	return nil
}

func (t *mapTier) Del(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// source is a Loader on a map that versions its writes as a store does:
// every write gets the next version, and a "not found" carries the latest.
type source struct {
	mu     sync.Mutex
	m      map[string]Entry
	latest uint64
}

func newSource(kv ...string) *source {
	s := &source{m: map[string]Entry{}}
	for i := 0; i < len(kv); i += 2 {
		s.write(kv[i], kv[i+1])
	}
	return s
}

func (s *source) Load(_ context.Context, key string) ([]byte, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !e.Found {
		return nil, s.latest, ErrNotFound
	}
	return e.Value, e.Version, nil
}

// write stores val under key and returns its version.
func (s *source) write(key, val string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest++
	s.m[key] = Entry{Value: []byte(val), Version: s.latest, Found: true}
	return s.latest
}

// del deletes key and returns the delete's version.
func (s *source) del(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest++
	delete(s.m, key)
	return s.latest
}

// setLatest makes the next write get version v+1.
func (s *source) setLatest(v uint64) {
	s.mu.Lock()
	s.latest = v
	s.mu.Unlock()
}

// downShared is an L2 that is unreachable.
type downShared struct{ mapTier }

func (*downShared) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, ErrUnavailable
}
func (*downShared) Set(context.Context, string, []byte, time.Duration) error { return ErrUnavailable }
func (*downShared) SetVersion(context.Context, string, Entry, time.Duration) (bool, uint64, error) {
	return false, 0, ErrUnavailable
}
func (*downShared) Replace(context.Context, string, Entry, uint64, time.Duration) (bool, error) {
	return false, ErrUnavailable
}
func (*downShared) Subscribe(Invalidator) {}
func (*downShared) Status() string        { return "degraded" }

const kiran = "kiran's value"

func newCache(t *testing.T, cfg Config) (*Cache, *mapTier) {
	t.Helper()
	l1 := newMapTier()
	cfg.L1 = l1
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, l1
}

func TestReadThroughWithoutL2(t *testing.T) {
	loads := 0
	c, _ := newCache(t, Config{Loader: LoaderFunc(func(context.Context, string) ([]byte, uint64, error) {
		loads++
		return []byte(kiran), 1, nil
	})})
	for i, want := range []Source{SourceStore, SourceL1, SourceL1} {
		r, err := c.Get(context.Background(), "kiran")
		if err != nil || r.Source != want || string(r.Value) != kiran {
			t.Fatalf("read %d = %q from %v, %v; want the value from %v", i, r.Value, r.Source, err, want)
		}
	}
	if loads != 1 {
		t.Fatalf("store loads = %d; want 1", loads)
	}
}

func TestNegativeEntry(t *testing.T) {
	src := newSource()
	c, l1 := newCache(t, Config{Loader: src, TTL: time.Hour, NegativeTTL: 10 * time.Second, Jitter: -1})
	for i, want := range []Source{SourceStore, SourceL1} {
		r, err := c.Get(context.Background(), "ghost")
		if !errors.Is(err, ErrNotFound) || r.Source != want {
			t.Fatalf("read %d = %v from %v; want ErrNotFound from %v", i, err, r.Source, want)
		}
	}
	if got := l1.ttls["ghost"]; got != 10*time.Second {
		t.Fatalf("negative entry TTL = %v; want the negative TTL, 10s", got)
	}
	// A write clears it.
	c.Publish(context.Background(), "ghost", []byte("boo"), src.write("ghost", "boo"))
	if _, _, ok := c.local.Get("ghost"); ok {
		t.Fatal("the negative entry survives a write")
	}
}

// A value of any bytes is a value, the empty one and "null" included: no
// value is reserved to mean "not found".
func TestNoValueIsReserved(t *testing.T) {
	for _, val := range []string{"", "null", "\x00"} {
		src := newSource("k", val)
		c, _ := newCache(t, Config{Loader: src})
		for range 2 {
			r, err := c.Get(context.Background(), "k")
			if err != nil || string(r.Value) != val {
				t.Fatalf("Get of %q = %q from %v, %v; want the value", val, r.Value, r.Source, err)
			}
		}
	}
}

func TestDegradedFillsAreShort(t *testing.T) {
	src := newSource("kiran", kiran)
	c, l1 := newCache(t, Config{
		Loader: src, L2: &downShared{}, TTL: time.Hour, DegradedTTL: 2 * time.Second, Jitter: -1,
	})
	r, err := c.Get(context.Background(), "kiran")
	if err != nil || r.Source != SourceStore {
		t.Fatalf("Get with L2 down = %v, %v; want the value from the store", r.Source, err)
	}
	if got := l1.ttls["kiran"]; got != 2*time.Second {
		t.Fatalf("L1 TTL with L2 down = %v; want the degraded TTL, 2s", got)
	}
	// A write is still published when L2 cannot take it: it waits in the
	// queue.
	c.Publish(context.Background(), "kiran", []byte("new"), src.write("kiran", "new"))
	if got := c.Stats().Queued; got != 1 {
		t.Fatalf("Queued = %d after a write with L2 down; want 1", got)
	}
}

func TestStoreErrorIsReturned(t *testing.T) {
	boom := errors.New("connection refused")
	c, _ := newCache(t, Config{Loader: LoaderFunc(func(context.Context, string) ([]byte, uint64, error) {
		return nil, 0, boom
	})})
	if _, err := c.Get(context.Background(), "kiran"); !errors.Is(err, boom) {
		t.Fatalf("got %v; want the store's error", err)
	}
	if _, _, ok := c.local.Get("kiran"); ok {
		t.Fatal("a store failure was cached")
	}
}

func TestStoreLoadHasItsOwnDeadline(t *testing.T) {
	c, _ := newCache(t, Config{StoreTimeout: 20 * time.Millisecond, Loader: LoaderFunc(
		func(ctx context.Context, _ string) ([]byte, uint64, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, 0, errors.New("store called without a deadline")
			}
			<-ctx.Done()
			return nil, 0, ctx.Err()
		})})
	if _, err := c.Get(context.Background(), "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want context.DeadlineExceeded", err)
	}
}

func TestTTLJitter(t *testing.T) {
	c, _ := newCache(t, Config{Loader: newSource(), TTL: time.Hour})
	lo, hi := time.Hour, time.Duration(0)
	for range 1000 {
		d := c.ttl("k", Entry{Found: true}, c.cfg.TTL)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 54*time.Minute || hi > 66*time.Minute || hi-lo < 6*time.Minute {
		t.Fatalf("1000 jittered TTLs span [%v, %v]; want a wide spread within 1h ±10%%", lo, hi)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Loader: newSource(), Jitter: 1},
		{Loader: newSource(), TTL: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error; want an error", cfg)
		}
	}
}

// A panic in a load becomes an error for every caller, not a crash: when
// the caller runs the load (its ctx cannot end) and when a goroutine does.
func TestLoadPanicIsAnError(t *testing.T) {
	c, _ := newCache(t, Config{Loader: LoaderFunc(func(context.Context, string) ([]byte, uint64, error) {
		panic("store bug")
	})})
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cancellable} {
		_, err := c.Get(ctx, "kiran")
		if err == nil || !strings.Contains(err.Error(), "store bug") {
			t.Fatalf("got %v; want an error naming the panic", err)
		}
	}
}

// flakyShared is an L2 on a map of entries that fails while down is set.
type flakyShared struct {
	mu   sync.Mutex
	m    map[string]Entry
	down atomic.Bool
}

func newFlakyShared() *flakyShared { return &flakyShared{m: map[string]Entry{}} }

func (f *flakyShared) Get(_ context.Context, key string) ([]byte, bool, error) {
	if f.down.Load() {
		return nil, false, ErrUnavailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[key]
	return e.Value, e.Found, nil
}

// entry returns what f holds for key, down or not.
func (f *flakyShared) entry(key string) (Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[key]
	return e, ok
}

func (f *flakyShared) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	_, _, err := f.SetVersion(ctx, key, Entry{Value: val, Found: true}, ttl)
	return err
}

func (f *flakyShared) Del(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
	return nil
}

func (f *flakyShared) SetVersion(_ context.Context, key string, e Entry, _ time.Duration) (bool, uint64, error) {
	if f.down.Load() {
		return false, 0, ErrUnavailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[key]; ok && (cur.Version > e.Version ||
		cur.Version == e.Version && cur.Found == e.Found && bytes.Equal(cur.Value, e.Value)) {
		return false, cur.Version, nil
	}
	e.Value = bytes.Clone(e.Value)
	f.m[key] = e
	return true, 0, nil
}

func (f *flakyShared) Replace(_ context.Context, key string, e Entry, held uint64, _ time.Duration) (bool, error) {
	if f.down.Load() {
		return false, ErrUnavailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[key]; !ok || cur.Version != held {
		return false, nil
	}
	e.Value = bytes.Clone(e.Value)
	f.m[key] = e
	return true, nil
}

func (f *flakyShared) Subscribe(Invalidator) {}
func (f *flakyShared) Status() string        { return "ok" }

// A write that L2 did not take is retried until it lands, and meanwhile the
// writer reads the key from the store, not from the stale L2.
func TestFailedL2WritesAreRetried(t *testing.T) {
	l2 := newFlakyShared()
	src := newSource("kiran", "old")
	c, _ := newCache(t, Config{Loader: src, L2: l2, RetryInterval: time.Millisecond})
	ctx := context.Background()
	if _, _, err := l2.SetVersion(ctx, "kiran", Entry{Value: []byte("old"), Version: 1, Found: true}, time.Hour); err != nil {
		t.Fatal(err)
	}

	l2.down.Store(true)
	c.Publish(ctx, "kiran", []byte("new"), src.write("kiran", "new"))
	if c.Stats().Queued != 1 {
		t.Fatalf("Queued = %d; want 1", c.Stats().Queued)
	}
	l2.down.Store(false)
	// Until the retry lands, the stale L2 must not answer the writer.
	for c.Stats().Queued != 0 {
		r, err := c.Get(ctx, "kiran")
		if err != nil || string(r.Value) != "new" {
			t.Fatalf("read while the write is queued = %s from %v, %v; want the new value", r.Value, r.Source, err)
		}
		time.Sleep(time.Millisecond)
	}
	if e, _ := l2.entry("kiran"); string(e.Value) != "new" {
		t.Fatalf("L2 holds %s after the retry; want the new value", e.Value)
	}
}

// A delete leaves a "not found" entry in L2 with its version, so a fill
// that loaded the deleted value before the delete cannot bring it back.
func TestDeleteKeepsOlderFillsOut(t *testing.T) {
	ctx := context.Background()
	l2 := newFlakyShared()
	src := newSource("k", "v1")
	c, _ := newCache(t, Config{Loader: src, L2: l2})
	c.PublishNotFound(ctx, "k", src.del("k"))
	e, ok := l2.entry("k")
	if !ok || e.Found || e.Version != 2 {
		t.Fatalf("L2 holds %+v after the delete; want a not-found entry of version 2", e)
	}
	// The fill of a load that read v1 before the delete.
	if stored, held, err := l2.SetVersion(ctx, "k", Entry{Value: []byte("v1"), Version: 1, Found: true}, time.Hour); stored || held != 2 || err != nil {
		t.Fatalf("the older fill = %v, %d, %v; want refused for version 2", stored, held, err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the delete = %v; want ErrNotFound", err)
	}
}

// A value that Config.Validate refuses is not served: the read goes to the
// store and L2 is repaired.
func TestValidateRejectsL2Values(t *testing.T) {
	ctx := context.Background()
	l2 := newFlakyShared()
	src := newSource("k", "good")
	c, _ := newCache(t, Config{Loader: src, L2: l2, Validate: func(_ string, v []byte) bool {
		return bytes.HasPrefix(v, []byte("good"))
	}})
	if _, _, err := l2.SetVersion(ctx, "k", Entry{Value: []byte("evil"), Version: 900, Found: true}, time.Hour); err != nil {
		t.Fatal(err)
	}
	r, err := c.Get(ctx, "k")
	if err != nil || string(r.Value) != "good" || r.Source != SourceStore {
		t.Fatalf("Get = %q from %v, %v; want the store's value", r.Value, r.Source, err)
	}
	if e, _ := l2.entry("k"); string(e.Value) != "good" || e.Version != 1 {
		t.Fatalf("L2 holds %+v; want the store's value at version 1", e)
	}
	if got := c.Stats().L2Rejected; got != 1 {
		t.Fatalf("L2Rejected = %d; want 1", got)
	}
}

// Every caller that missed L1 either loads or takes another's load, and
// Coalesced counts only the second kind.
func TestCoalescedCountsOnlyJoiners(t *testing.T) {
	release := make(chan struct{})
	c, _ := newCache(t, Config{Loader: LoaderFunc(func(context.Context, string) ([]byte, uint64, error) {
		<-release
		return []byte(kiran), 1, nil
	})})
	const readers = 10
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range readers {
		ctx := context.Background() // the caller runs the load (Do)
		if i%2 == 1 {
			ctx = cancellable // a goroutine runs it (DoChan)
		}
		wg.Go(func() {
			if _, err := c.Get(ctx, "kiran"); err != nil {
				t.Error(err)
			}
		})
	}
	for c.Stats().L1Misses < readers {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let them join the flight
	close(release)
	wg.Wait()
	st := c.Stats()
	if st.StoreLoads+st.Coalesced != readers || st.Coalesced == 0 {
		t.Fatalf("%d readers missed L1: %d store loads and %d coalesced; want them to add up to %d, with some coalesced",
			readers, st.StoreLoads, st.Coalesced, readers)
	}
}

// replaceHookShared is a flakyShared that runs beforeReplace once, just
// before its first Replace.
type replaceHookShared struct {
	*flakyShared
	beforeReplace func()
}

func (r *replaceHookShared) Replace(ctx context.Context, key string, e Entry, held uint64, ttl time.Duration) (bool, error) {
	if f := r.beforeReplace; f != nil {
		r.beforeReplace = nil
		f()
	}
	return r.flakyShared.Replace(ctx, key, e, held, ttl)
}

// A repair replaces L2's value on its version alone. When a restored store
// counts up to that very version and its write reaches L2 between the
// repair's store read and Replace, Replace overwrites that write; the
// repair must then publish it again, so L2 ends with the store's newest.
func TestRepairKeepsAWriteOfTheHeldVersion(t *testing.T) {
	ctx := context.Background()
	l2 := &replaceHookShared{flakyShared: newFlakyShared()}
	src := newSource("carol", "old")
	src.setLatest(4)
	c, _ := newCache(t, Config{Loader: src, L2: l2})
	// Left by the store before the restore.
	if stored, _, err := l2.SetVersion(ctx, "carol", Entry{Value: []byte("gone"), Version: 500, Found: true}, time.Hour); err != nil || !stored {
		t.Fatal(stored, err)
	}
	l2.beforeReplace = func() { // another instance's write, version 500
		src.setLatest(499)
		v := src.write("carol", "newest")
		if stored, _, err := l2.SetVersion(ctx, "carol", Entry{Value: []byte("newest"), Version: v, Found: true}, time.Hour); err != nil || !stored {
			t.Errorf("the other write's SetVersion = %v, %v; want stored", stored, err)
		}
	}
	c.Publish(ctx, "carol", []byte("first"), src.write("carol", "first"))
	if e, _ := l2.entry("carol"); string(e.Value) != "newest" {
		t.Fatalf("L2 holds %s; want the store's newest", e.Value)
	}
	if got := c.Stats().L2Rejected; got != 1 {
		t.Errorf("L2Rejected = %d; want 1", got)
	}
}

// keyFailingShared is a flakyShared whose writes of some keys always fail,
// as on a cluster node that is down. Once the whole L2 is up again, it
// counts the failed writes, and notes how many there had been when the
// last write of another key landed.
type keyFailingShared struct {
	*flakyShared
	failing map[string]bool

	mu                 sync.Mutex
	failures, pending  int // failed writes since L2 came back; other keys not yet written
	failuresAtLastLand int
}

func (k *keyFailingShared) SetVersion(ctx context.Context, key string, e Entry, ttl time.Duration) (bool, uint64, error) {
	if k.flakyShared.down.Load() {
		return false, 0, ErrUnavailable
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failing[key] {
		k.failures++
		return false, 0, ErrUnavailable
	}
	if k.pending--; k.pending == 0 {
		k.failuresAtLastLand = k.failures
	}
	return k.flakyShared.SetVersion(ctx, key, e, ttl)
}

// Keys that L2 keeps refusing do not hold back the retries of the others:
// one pass of the retry queue goes past them, so every other queued write
// lands before the failing keys were tried twice each. (A pass that stops
// at its first failure lands about a tenth of the others per pass here, and
// needs dozens of passes.)
func TestOutboxRetriesPastAFailingKey(t *testing.T) {
	ctx := context.Background()
	flaky := newFlakyShared()
	l2 := &keyFailingShared{flakyShared: flaky, failing: map[string]bool{}}
	src := newSource()
	var keys []string
	for i := range 110 {
		k := fmt.Sprintf("u%03d", i)
		keys = append(keys, k)
		src.write(k, "old")
		if i < 10 {
			l2.failing[k] = true
		}
	}
	l2.pending = len(keys) - len(l2.failing)
	c, _ := newCache(t, Config{Loader: src, L2: l2, RetryInterval: 20 * time.Millisecond})

	flaky.down.Store(true)
	for _, k := range keys {
		c.Publish(ctx, k, []byte("new"), src.write(k, "new"))
	}
	flaky.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Queued != uint64(len(l2.failing)) {
		if time.Now().After(deadline) {
			t.Fatalf("Queued = %d after 10s; want only the %d failing keys left", c.Stats().Queued, len(l2.failing))
		}
		time.Sleep(time.Millisecond)
	}
	l2.mu.Lock()
	failures := l2.failuresAtLastLand
	l2.mu.Unlock()
	if failures > 2*len(l2.failing) {
		t.Errorf("the failing keys failed %d times before the last other key landed; want at most %d (two passes)", failures, 2*len(l2.failing))
	}
	for _, k := range keys[len(l2.failing):] {
		if e, _ := flaky.entry(k); string(e.Value) != "new" {
			t.Fatalf("L2 holds %s for %s; want the new value", e.Value, k)
		}
	}
}

// TTLOf sets each value's TTL; "not found" keeps the negative TTL.
func TestTTLOf(t *testing.T) {
	src := newSource("short", "5s", "long", "2h")
	c, l1 := newCache(t, Config{Loader: src, Jitter: -1, TTL: 3 * time.Hour, NegativeTTL: time.Second,
		TTLOf: func(_ string, v []byte) time.Duration {
			d, err := time.ParseDuration(string(v))
			if err != nil {
				t.Errorf("TTLOf(%q): %v", v, err)
			}
			return d
		}})
	for _, k := range []string{"short", "long", "none"} {
		_, _ = c.Get(context.Background(), k)
	}
	for k, want := range map[string]time.Duration{"short": 5 * time.Second, "long": 2 * time.Hour, "none": time.Second} {
		if got := l1.ttls[k]; got != want {
			t.Errorf("L1 TTL of %s = %v; want %v", k, got, want)
		}
	}
}

// Refresh reloads a key whose source changed without a Publish, with or
// without L2, and later reads answer the reloaded value.
func TestRefresh(t *testing.T) {
	for _, withL2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("L2=%v", withL2), func(t *testing.T) {
			ctx := context.Background()
			src := newSource("k", "v1")
			cfg := Config{Loader: src}
			var l2 *flakyShared
			if withL2 {
				l2 = newFlakyShared()
				cfg.L2 = l2
			}
			c, _ := newCache(t, cfg)
			for range 3 { // store, then L2 and L1 with L2; store then L1 without
				if r, err := c.Get(ctx, "k"); err != nil || string(r.Value) != "v1" {
					t.Fatalf("Get = %q, %v; want v1", r.Value, err)
				}
			}
			// The source changes by itself: same version, another value.
			src.mu.Lock()
			src.m["k"] = Entry{Value: []byte("v1 again"), Version: src.m["k"].Version, Found: true}
			src.mu.Unlock()
			if r, _ := c.Get(ctx, "k"); string(r.Value) != "v1" || r.Source != SourceL1 {
				t.Fatalf("Get before Refresh = %q from %v; want v1 from L1", r.Value, r.Source)
			}
			if r, err := c.Refresh(ctx, "k"); err != nil || string(r.Value) != "v1 again" || r.Source != SourceStore {
				t.Fatalf("Refresh = %q from %v, %v; want the new value from the store", r.Value, r.Source, err)
			}
			if r, err := c.Get(ctx, "k"); err != nil || string(r.Value) != "v1 again" {
				t.Fatalf("Get after Refresh = %q from %v, %v; want the new value", r.Value, r.Source, err)
			}
			if withL2 {
				if e, _ := l2.entry("k"); string(e.Value) != "v1 again" {
					t.Fatalf("L2 holds %q after Refresh; want the new value", e.Value)
				}
			}
		})
	}
}

// Concurrent refreshes of one key share one load.
func TestRefreshCoalesces(t *testing.T) {
	release := make(chan struct{})
	var loads atomic.Int64
	c, _ := newCache(t, Config{Loader: LoaderFunc(func(context.Context, string) ([]byte, uint64, error) {
		loads.Add(1)
		<-release
		return []byte("v"), 1, nil
	})})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := c.Refresh(context.Background(), "k"); err != nil {
				t.Error(err)
			}
		})
	}
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join
	close(release)
	wg.Wait()
	if n := loads.Load(); n >= 10 {
		t.Fatalf("10 concurrent refreshes ran %d loads; want them shared", n)
	}
}
