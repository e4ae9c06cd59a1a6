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

// funcStore is a Store of Func fields; nil fields answer ErrNotFound/nil.
type funcStore struct {
	GetFunc func(ctx context.Context, name string) (User, error)
}

func (s funcStore) Get(ctx context.Context, name string) (User, error) {
	if s.GetFunc == nil {
		return User{}, ErrNotFound
	}
	return s.GetFunc(ctx, name)
}
func (funcStore) Create(context.Context, User) (uint64, error)   { return 1, nil }
func (funcStore) Update(context.Context, User) (uint64, error)   { return 2, nil }
func (funcStore) Delete(context.Context, string) (uint64, error) { return 3, nil }
func (funcStore) Ping(context.Context) error                     { return nil }
func (funcStore) Close() error                                   { return nil }

// downShared is an L2 that is unreachable.
type downShared struct{ mapTier }

func (*downShared) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, ErrUnavailable
}
func (*downShared) Set(context.Context, string, []byte, time.Duration) error { return ErrUnavailable }
func (*downShared) SetVersion(context.Context, string, []byte, uint64, time.Duration) (bool, uint64, error) {
	return false, 0, ErrUnavailable
}
func (*downShared) Replace(context.Context, string, []byte, uint64, uint64, time.Duration) (bool, error) {
	return false, ErrUnavailable
}
func (*downShared) Status() string { return "degraded" }

var kiran = User{Name: "kiran", Email: "kiran@example.com"}

func newCache(t *testing.T, cfg Config) (*Cache, *mapTier) {
	t.Helper()
	l1 := newMapTier()
	cfg.Local = NewLocal(l1)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, l1
}

func TestReadThroughWithoutL2(t *testing.T) {
	loads := 0
	c, _ := newCache(t, Config{Store: funcStore{GetFunc: func(context.Context, string) (User, error) {
		loads++
		return kiran, nil
	}}})
	for i, want := range []Source{SourceStore, SourceL1, SourceL1} {
		r, err := c.Get(context.Background(), "kiran")
		if err != nil || r.Source != want || string(r.Body) != `{"email":"kiran@example.com","username":"kiran"}` {
			t.Fatalf("read %d = %q from %v, %v; want the user from %v", i, r.Body, r.Source, err, want)
		}
	}
	if loads != 1 {
		t.Fatalf("store loads = %d; want 1", loads)
	}
}

func TestNegativeEntry(t *testing.T) {
	c, l1 := newCache(t, Config{Store: funcStore{}, TTL: time.Hour, NegativeTTL: 10 * time.Second, Jitter: -1})
	for i, want := range []Source{SourceStore, SourceL1} {
		r, err := c.Get(context.Background(), "ghost")
		if !errors.Is(err, ErrNotFound) || r.Source != want {
			t.Fatalf("read %d = %v from %v; want ErrNotFound from %v", i, err, r.Source, want)
		}
	}
	if got := l1.ttls["ghost"]; got != 10*time.Second {
		t.Fatalf("negative entry TTL = %v; want the negative TTL, 10s", got)
	}
	// A registration clears it.
	if _, err := c.Create(context.Background(), User{Name: "ghost", Email: "g@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.local.Get("ghost"); ok {
		t.Fatal("the negative entry survives a registration")
	}
}

func TestDegradedFillsAreShort(t *testing.T) {
	c, l1 := newCache(t, Config{
		Store:  funcStore{GetFunc: func(context.Context, string) (User, error) { return kiran, nil }},
		Shared: &downShared{}, TTL: time.Hour, DegradedTTL: 2 * time.Second, Jitter: -1,
	})
	r, err := c.Get(context.Background(), "kiran")
	if err != nil || r.Source != SourceStore {
		t.Fatalf("Get with L2 down = %v, %v; want the user from the store", r.Source, err)
	}
	if got := l1.ttls["kiran"]; got != 2*time.Second {
		t.Fatalf("L1 TTL with L2 down = %v; want the degraded TTL, 2s", got)
	}
	// A write still lands when L2 cannot take it.
	if _, err := c.Update(context.Background(), kiran); err != nil {
		t.Fatalf("Update with L2 down: %v", err)
	}
}

func TestStoreErrorIsReturned(t *testing.T) {
	boom := errors.New("connection refused")
	c, _ := newCache(t, Config{Store: funcStore{GetFunc: func(context.Context, string) (User, error) {
		return User{}, boom
	}}})
	if _, err := c.Get(context.Background(), "kiran"); !errors.Is(err, boom) {
		t.Fatalf("got %v; want the store's error", err)
	}
	if _, _, ok := c.local.Get("kiran"); ok {
		t.Fatal("a store failure was cached")
	}
}

func TestStoreLoadHasItsOwnDeadline(t *testing.T) {
	c, _ := newCache(t, Config{StoreTimeout: 20 * time.Millisecond, Store: funcStore{
		GetFunc: func(ctx context.Context, _ string) (User, error) {
			if _, ok := ctx.Deadline(); !ok {
				return User{}, errors.New("store called without a deadline")
			}
			<-ctx.Done()
			return User{}, ctx.Err()
		}}})
	if _, err := c.Get(context.Background(), "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v; want context.DeadlineExceeded", err)
	}
}

func TestTTLJitter(t *testing.T) {
	c, _ := newCache(t, Config{Store: funcStore{}, TTL: time.Hour})
	lo, hi := time.Hour, time.Duration(0)
	for range 1000 {
		d := c.ttl(true, c.cfg.TTL)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 54*time.Minute || hi > 66*time.Minute || hi-lo < 6*time.Minute {
		t.Fatalf("1000 jittered TTLs span [%v, %v]; want a wide spread within 1h ±10%%", lo, hi)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Store: funcStore{}, Jitter: 1},
		{Store: funcStore{}, TTL: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error; want an error", cfg)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            `"plain"`,
		`q"b\`:             `"q\"b\\"`,
		"<a>&":             `"<a>&"`,
		"tab\tnl\n\x01":    `"tab\tnl\n\u0001"`,
		"bad\xffutf8":      `"bad\ufffdutf8"`,
		"ls\u2028ps\u2029": `"ls\u2028ps\u2029"`,
		"ünï":              `"ünï"`,
	} {
		if got := string(AppendJSONString(nil, in)); got != want {
			t.Errorf("AppendJSONString(%q) = %s; want %s", in, got, want)
		}
	}
}

// A panic in a load becomes an error for every caller, not a crash: when
// the caller runs the load (its ctx cannot end) and when a goroutine does.
func TestLoadPanicIsAnError(t *testing.T) {
	c, _ := newCache(t, Config{Store: funcStore{GetFunc: func(context.Context, string) (User, error) {
		panic("store bug")
	}}})
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cancellable} {
		_, err := c.Get(ctx, "kiran")
		if err == nil || !strings.Contains(err.Error(), "store bug") {
			t.Fatalf("got %v; want an error naming the panic", err)
		}
	}
}

// flakyShared is an L2 on a map that fails while down is set, and records
// the versions it was given.
type flakyShared struct {
	mapTier
	down     atomic.Bool
	versions map[string]uint64
}

func (f *flakyShared) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.down.Load() {
		return nil, false, ErrUnavailable
	}
	return f.mapTier.Get(ctx, key)
}

func (f *flakyShared) SetVersion(ctx context.Context, key string, val []byte, version uint64, ttl time.Duration) (bool, uint64, error) {
	if f.down.Load() {
		return false, 0, ErrUnavailable
	}
	f.mu.Lock()
	if cur := f.m[key]; cur != nil && (f.versions[key] > version || f.versions[key] == version && bytes.Equal(cur, val)) {
		f.mu.Unlock()
		return false, f.versions[key], nil
	}
	f.versions[key] = version
	f.mu.Unlock()
	return true, 0, f.mapTier.Set(ctx, key, val, ttl)
}

func (f *flakyShared) Replace(ctx context.Context, key string, val []byte, version, held uint64, ttl time.Duration) (bool, error) {
	if f.down.Load() {
		return false, ErrUnavailable
	}
	f.mu.Lock()
	if f.m[key] == nil || f.versions[key] != held {
		f.mu.Unlock()
		return false, nil
	}
	f.versions[key] = version
	f.mu.Unlock()
	return true, f.mapTier.Set(ctx, key, val, ttl)
}

func (f *flakyShared) Status() string { return "ok" }

// A write that L2 did not take is retried until it lands, and meanwhile the
// writer reads the key from the store, not from the stale L2.
func TestFailedL2WritesAreRetried(t *testing.T) {
	l2 := &flakyShared{mapTier: *newMapTier(), versions: map[string]uint64{}}
	store := &versionedStore{users: map[string]User{"kiran": {Name: "kiran", Email: "old@example.com", Version: 1}}, next: 2}
	c, _ := newCache(t, Config{Store: store, Shared: l2, RetryInterval: time.Millisecond})
	ctx := context.Background()
	if _, _, err := l2.SetVersion(ctx, "kiran", User{Name: "kiran", Email: "old@example.com"}.AppendJSON(nil), 1, time.Hour); err != nil {
		t.Fatal(err)
	}

	l2.down.Store(true)
	if _, err := c.Update(ctx, User{Name: "kiran", Email: "new@example.com"}); err != nil {
		t.Fatalf("Update with L2 down: %v", err)
	}
	if c.Stats().Queued != 1 {
		t.Fatalf("Queued = %d; want 1", c.Stats().Queued)
	}
	l2.down.Store(false)
	// Until the retry lands, the stale L2 must not answer the writer.
	for c.Stats().Queued != 0 {
		r, err := c.Get(ctx, "kiran")
		if err != nil || !strings.Contains(string(r.Body), "new@example.com") {
			t.Fatalf("read while the write is queued = %s from %v, %v; want the new email", r.Body, r.Source, err)
		}
		time.Sleep(time.Millisecond)
	}
	if v, _, _ := l2.mapTier.Get(ctx, "kiran"); !strings.Contains(string(v), "new@example.com") {
		t.Fatalf("L2 holds %s after the retry; want the new email", v)
	}
}

// versionedStore is a minimal Store with versions.
type versionedStore struct {
	funcStore
	mu    sync.Mutex
	users map[string]User
	next  uint64
}

func (s *versionedStore) Get(_ context.Context, name string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (s *versionedStore) Update(_ context.Context, u User) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.Version = s.next
	s.next++
	s.users[u.Name] = u
	return u.Version, nil
}

// Every caller that missed L1 either loads or takes another's load, and
// Coalesced counts only the second kind.
func TestCoalescedCountsOnlyJoiners(t *testing.T) {
	release := make(chan struct{})
	c, _ := newCache(t, Config{Store: funcStore{GetFunc: func(context.Context, string) (User, error) {
		<-release
		return kiran, nil
	}}})
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

func (r *replaceHookShared) Replace(ctx context.Context, key string, val []byte, version, held uint64, ttl time.Duration) (bool, error) {
	if f := r.beforeReplace; f != nil {
		r.beforeReplace = nil
		f()
	}
	return r.flakyShared.Replace(ctx, key, val, version, held, ttl)
}

// A repair replaces L2's value on its version alone. When a restored store
// counts up to that very version and its write reaches L2 between the
// repair's store read and Replace, Replace overwrites that write; the
// repair must then publish it again, so L2 ends with the store's newest.
func TestRepairKeepsAWriteOfTheHeldVersion(t *testing.T) {
	ctx := context.Background()
	flaky := &flakyShared{mapTier: *newMapTier(), versions: map[string]uint64{}}
	l2 := &replaceHookShared{flakyShared: flaky}
	store := &versionedStore{users: map[string]User{"carol": {Name: "carol", Email: "old@example.com", Version: 1}}, next: 5}
	c, _ := newCache(t, Config{Store: store, Shared: l2})
	// Left by the store before the restore.
	if stored, _, err := l2.SetVersion(ctx, "carol", User{Name: "carol", Email: "gone@example.com"}.AppendJSON(nil), 500, time.Hour); err != nil || !stored {
		t.Fatal(stored, err)
	}
	newest := User{Name: "carol", Email: "newest@example.com"}
	l2.beforeReplace = func() { // another instance's write, version 500
		store.mu.Lock()
		store.next = 500
		store.mu.Unlock()
		v, err := store.Update(ctx, newest)
		if err != nil {
			t.Error(err)
		}
		if stored, _, err := l2.SetVersion(ctx, "carol", newest.AppendJSON(nil), v, time.Hour); err != nil || !stored {
			t.Errorf("the other write's SetVersion = %v, %v; want stored", stored, err)
		}
	}
	if _, err := c.Update(ctx, User{Name: "carol", Email: "first@example.com"}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := l2.mapTier.Get(ctx, "carol"); !bytes.Equal(v, newest.AppendJSON(nil)) {
		t.Fatalf("L2 holds %s; want the store's newest, %s", v, newest.AppendJSON(nil))
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

func (k *keyFailingShared) SetVersion(ctx context.Context, key string, val []byte, version uint64, ttl time.Duration) (bool, uint64, error) {
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
	return k.flakyShared.SetVersion(ctx, key, val, version, ttl)
}

// Keys that L2 keeps refusing do not hold back the retries of the others:
// one pass of the retry queue goes past them, so every other queued write
// lands before the failing keys were tried twice each. (A pass that stops
// at its first failure lands about a tenth of the others per pass here, and
// needs dozens of passes.)
func TestOutboxRetriesPastAFailingKey(t *testing.T) {
	ctx := context.Background()
	flaky := &flakyShared{mapTier: *newMapTier(), versions: map[string]uint64{}}
	l2 := &keyFailingShared{flakyShared: flaky, failing: map[string]bool{}}
	users := map[string]User{}
	var names []string
	for i := range 110 {
		n := fmt.Sprintf("u%03d", i)
		names = append(names, n)
		users[n] = User{Name: n, Email: "old@example.com", Version: uint64(i + 1)}
		if i < 10 {
			l2.failing[n] = true
		}
	}
	l2.pending = len(names) - len(l2.failing)
	store := &versionedStore{users: users, next: uint64(len(names) + 1)}
	c, _ := newCache(t, Config{Store: store, Shared: l2, RetryInterval: 20 * time.Millisecond})

	flaky.down.Store(true)
	for _, n := range names {
		if _, err := c.Update(ctx, User{Name: n, Email: "new@example.com"}); err != nil {
			t.Fatal(err)
		}
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
	for _, n := range names[len(l2.failing):] {
		if v, _, _ := flaky.mapTier.Get(ctx, n); !strings.Contains(string(v), "new@example.com") {
			t.Fatalf("L2 holds %s for %s; want the new email", v, n)
		}
	}
}
