package redis_test

// The coherence proof: several core.Cache instances, each with its own L1,
// on one real Redis and one shared store.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
)

// instance is one tiercache process: L1, L2 client and cache.
type instance struct {
	l2    *redis.Tier
	cache *users.Cache
	// flushes counts the tier's Invalidate(nil) calls: L1 dropped whole.
	flushes *flushCounter
}

// flushCounter is the Invalidator of an instance: it passes everything to
// L1 and counts the calls that drop all of it.
type flushCounter struct {
	core.Invalidator
	n atomic.Int64
}

// countingShared subscribes a flushCounter around the Cache's L1.
type countingShared struct {
	*redis.Tier
	flushes *flushCounter
}

func (c countingShared) Subscribe(inv core.Invalidator) {
	c.flushes.Invalidator = inv
	c.Tier.Subscribe(c.flushes)
}

func (f *flushCounter) Invalidate(keys []string) {
	if keys == nil {
		f.n.Add(1)
	}
	f.Invalidator.Invalidate(keys)
}

func newInstance(t *testing.T, srv redisServer, store users.Store, prefix string) *instance {
	t.Helper()
	return newInstanceWith(t, srv, store, prefix, core.Config{})
}

// twoInstances starts a Redis and two instances on it sharing one memory
// store, with keys under prefix.
func twoInstances(t *testing.T, prefix string) (*redistest.Server, *instance, *instance) {
	t.Helper()
	srv := redistest.Start(t)
	a, b := twoInstancesOn(t, srv, prefix)
	return srv, a, b
}

// twoInstancesOn is twoInstances on srv.
func twoInstancesOn(t *testing.T, srv redisServer, prefix string) (*instance, *instance) {
	t.Helper()
	store := memory.New()
	return newInstance(t, srv, store, prefix), newInstance(t, srv, store, prefix)
}

// newInstanceWith is newInstance with cfg's TTLs and intervals.
func newInstanceWith(t *testing.T, srv redisServer, store users.Store, prefix string, cfg core.Config) *instance {
	t.Helper()
	return newInstanceL2(t, redis.Config{URL: srv.URL(), Prefix: prefix}, store, cfg)
}

// newInstanceL2 is newInstanceWith with l2's URL, Prefix and Logger.
func newInstanceL2(t *testing.T, l2cfg redis.Config, store users.Store, cfg core.Config) *instance {
	t.Helper()
	l1, err := ristretto.New(ristretto.Config{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l1.Close)
	// 200ms: generous for -race on 2 cores, short enough for the outage tests.
	l2cfg.Timeout = 200 * time.Millisecond
	l2, err := redis.New(l2cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l2.Close)
	flushes := &flushCounter{}
	cfg.L1, cfg.L2 = l1, countingShared{Tier: l2, flushes: flushes}
	cache, err := users.NewCache(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	return &instance{l2: l2, cache: cache, flushes: flushes}
}

var ctx = context.Background()

// read returns the email the instance serves for name ("" when not found)
// and the tier that answered.
func (in *instance) read(t *testing.T, name string) (string, core.Source) {
	t.Helper()
	r, err := in.cache.Get(ctx, name)
	if errors.Is(err, core.ErrNotFound) {
		return "", r.Source
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return emailOf(t, r.Value), r.Source
}

func emailOf(t *testing.T, body []byte) string {
	t.Helper()
	var email, name string
	if _, err := fmt.Sscanf(string(body), `{"email":%q,"username":%q}`, &email, &name); err != nil {
		t.Fatalf("cannot parse %q: %v", body, err)
	}
	return email
}

// openBreaker stalls Redis until the instance's breaker opens, then resumes
// Redis: the breaker stays open until its next probe, so writes made
// meanwhile do not reach Redis although it answers again.
func (in *instance) openBreaker(t *testing.T, srv *redistest.Server) {
	t.Helper()
	srv.Pause()
	waitFor(t, "the breaker to open", func() bool {
		in.cache.Get(ctx, fmt.Sprintf("probe-%d", time.Now().UnixNano()))
		return in.l2.Status() == "degraded"
	})
	srv.Resume()
}

// settle reads until the instance serves want from L1, proving that the old
// value left every tier; it fails after 10s.
func (in *instance) settle(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, src := in.read(t, name)
		if got == want && src == core.SourceL1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s instance serves %q from %v; want %q from l1", got, src, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// A write through one instance makes the other stop serving the old value
// from L1 and L2, for a registration that replaces a cached "not found",
// an update and a delete; on a cluster, for a key on each master.
func TestTwoInstancesStayCoherent(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		a, b := twoInstancesOn(t, srv, "coh:")
		for _, name := range spread(t, srv, "coh:", "kiran") {
			twoInstancesStayCoherent(t, a, b, name)
		}
	})
}

func twoInstancesStayCoherent(t *testing.T, a, b *instance, name string) {
	t.Helper()
	// Both cache "not found" in L1.
	for _, in := range []*instance{a, b} {
		in.settle(t, name, "")
	}
	if _, err := a.cache.Create(ctx, users.User{Name: name, Email: "kiran@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.read(t, name); got != "kiran@example.com" {
		t.Fatalf("writer reads %q right after its registration; want kiran@example.com", got)
	}
	b.settle(t, name, "kiran@example.com")
	a.settle(t, name, "kiran@example.com")

	if _, err := b.cache.Update(ctx, users.User{Name: name, Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.read(t, name); got != "new@example.com" {
		t.Fatalf("writer reads %q right after its update; want new@example.com", got)
	}
	a.settle(t, name, "new@example.com")

	if err := a.cache.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.read(t, name); got != "" {
		t.Fatalf("writer reads %q right after its delete; want not found", got)
	}
	b.settle(t, name, "")
}

// Read-your-writes under concurrency: while b hammers the key, every read
// that a makes after its own write returns serves that write or a later one.
func TestReadYourWritesUnderLoad(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		a, b := twoInstancesOn(t, srv, "ryw:")
		readYourWritesUnderLoad(t, a, b, spread(t, srv, "ryw:", "hot")[0])
	})
}

func readYourWritesUnderLoad(t *testing.T, a, b *instance, hot string) {
	if _, err := a.cache.Create(ctx, users.User{Name: hot, Email: "0@example.com"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					a.read(t, hot)
					b.read(t, hot)
				}
			}
		})
	}
	last := "0@example.com"
	for i := 1; i <= 300; i++ {
		want := fmt.Sprintf("%d@example.com", i)
		last = want
		if _, err := a.cache.Update(ctx, users.User{Name: hot, Email: want}); err != nil {
			t.Fatal(err)
		}
		if got, src := a.read(t, hot); got != want {
			t.Errorf("update %d: writer then read %q from %v; want %q", i, got, src, want)
			break
		}
	}
	close(stop)
	wg.Wait()
	b.settle(t, hot, last)
}

// The fill race, end to end: b keeps refilling its L1 while a writes. An L1
// fill that read the old value before the invalidation must never survive
// it; if one did, b would serve the old value from L1 forever and settle
// would time out.
func TestFillRaceStress(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		a, b := twoInstancesOn(t, srv, "race:")
		fillRaceStress(t, a, b, spread(t, srv, "race:", "k")[0])
	})
}

func fillRaceStress(t *testing.T, a, b *instance, k string) {
	if _, err := a.cache.Create(ctx, users.User{Name: k, Email: "0@example.com"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 200; i++ {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					b.read(t, k)
				}
			})
		}
		want := fmt.Sprintf("%d@example.com", i)
		if _, err := a.cache.Update(ctx, users.User{Name: k, Email: want}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		b.settle(t, k, want)
	}
}

// The fill guard alone, at its smallest: a fill whose ticket predates an
// invalidation never leaves its value in L1, whatever the interleaving.
func TestLocalFillGuard(t *testing.T) {
	l1, err := ristretto.New(ristretto.Config{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	local := core.NewLocal(l1)
	for i := range 20000 {
		key := fmt.Sprintf("k%d", i%64)
		ticket := local.Begin(key)
		var wg sync.WaitGroup
		wg.Go(func() { local.Invalidate([]string{key}) })
		local.Fill(key, ticket, []byte("old"), true, time.Minute)
		wg.Wait()
		if body, _, ok := local.Get(key); ok {
			t.Fatalf("iteration %d: L1 holds %q after an invalidation that followed the fill's ticket", i, body)
		}
	}
	// And Invalidate(nil) discards everything filled before it.
	ticket := local.Begin("x")
	if !local.Fill("x", ticket, []byte("v"), true, time.Minute) {
		t.Fatal("a fill with a current ticket was refused")
	}
	local.Invalidate(nil)
	if _, _, ok := local.Get("x"); ok {
		t.Fatal("entry survives Invalidate(nil)")
	}
	if local.Fill("x", ticket, []byte("v"), true, time.Minute) {
		t.Fatal("a fill with a ticket from before Invalidate(nil) was stored")
	}
}

// countingStore counts loads and can hold them until released.
type countingStore struct {
	users.Store
	loads   atomic.Int64
	release chan struct{}
}

func (s *countingStore) Get(ctx context.Context, name string) (users.User, error) {
	s.loads.Add(1)
	if s.release != nil {
		select {
		case <-s.release:
		case <-ctx.Done():
			return users.User{}, ctx.Err()
		}
	}
	return s.Store.Get(ctx, name)
}

// 1,000 concurrent reads of one uncached user cost one store load, and a
// caller that gives up does not fail the others.
func TestStampede(t *testing.T) {
	srv := redistest.Start(t)
	mem := memory.New()
	if _, err := mem.Create(ctx, users.User{Name: "hot", Email: "hot@example.com"}); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: mem, release: make(chan struct{})}
	in := newInstance(t, srv, store, "stampede:")

	// The first caller gives up while the load is held.
	quitter, cancel := context.WithCancel(ctx)
	quit := make(chan error, 1)
	go func() { _, err := in.cache.Get(quitter, "hot"); quit <- err }()
	for in.cache.Stats().L1Misses < 1 {
		time.Sleep(time.Millisecond)
	}

	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			r, err := in.cache.Get(ctx, "hot")
			if err == nil && emailOf(t, r.Value) != "hot@example.com" {
				err = fmt.Errorf("got %s", r.Value)
			}
			errs <- err
		})
	}
	for in.cache.Stats().L1Misses < n+1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-quit; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v; want context.Canceled", err)
	}
	close(store.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a coalesced caller failed: %v", err)
		}
	}
	if got := store.loads.Load(); got != 1 {
		t.Fatalf("store loads = %d; want 1", got)
	}
}

// holdingStore holds an Update of one email after the store committed it,
// so that its publish reaches Redis after a later write's.
type holdingStore struct {
	users.Store
	email   string
	release chan struct{}
}

func (s *holdingStore) Update(ctx context.Context, u users.User) (uint64, error) {
	v, err := s.Store.Update(ctx, u)
	if u.Email == s.email {
		<-s.release
	}
	return v, err
}

// Two writes that commit in one order and reach Redis in the other leave
// the newer value everywhere: versions order the L2 writes.
func TestOutOfOrderPublishes(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		outOfOrderPublishes(t, srv, spread(t, srv, "order:", "hot")[0])
	})
}

func outOfOrderPublishes(t *testing.T, srv redisServer, hot string) {
	mem := memory.New()
	if _, err := mem.Create(ctx, users.User{Name: hot, Email: "0@example.com"}); err != nil {
		t.Fatal(err)
	}
	held := &holdingStore{Store: mem, email: "first@example.com", release: make(chan struct{})}
	a := newInstance(t, srv, held, "order:")
	b := newInstance(t, srv, mem, "order:")

	firstDone := make(chan error, 1)
	go func() {
		_, err := a.cache.Update(ctx, users.User{Name: hot, Email: "first@example.com"})
		firstDone <- err
	}()
	waitFor(t, "the first update to commit", func() bool {
		u, err := mem.Get(ctx, hot)
		return err == nil && u.Email == "first@example.com"
	})
	if _, err := b.cache.Update(ctx, users.User{Name: hot, Email: "second@example.com"}); err != nil {
		t.Fatal(err)
	}
	close(held.release) // now the first update publishes, late
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	a.settle(t, hot, "second@example.com")
	b.settle(t, hot, "second@example.com")
}

// A write acknowledged while this instance's breaker is open reaches L2 once
// Redis answers again, so other instances stop serving the old value.
func TestWriteDuringOutageReachesOtherInstances(t *testing.T) {
	srv, a, b := twoInstances(t, "outage:")
	if _, err := a.cache.Create(ctx, users.User{Name: "hot", Email: "old@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "hot", "old@example.com")

	a.openBreaker(t, srv)
	if _, err := a.cache.Update(ctx, users.User{Name: "hot", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.read(t, "hot"); got != "new@example.com" {
		t.Fatalf("writer reads %q after its update during the outage; want new@example.com", got)
	}
	b.settle(t, "hot", "new@example.com")
	a.settle(t, "hot", "new@example.com")
	if q := a.cache.Stats().Queued; q != 0 {
		t.Fatalf("Queued = %d after recovery; want 0", q)
	}
}

// A write that waits in the outbox while another instance deletes the user
// must not bring the user back, even after the delete's "not found" marker expired:
// the retry republishes what the store holds, not the queued value.
func TestQueuedWriteDoesNotResurrectADeletedUser(t *testing.T) {
	srv := redistest.Start(t)
	store := memory.New()
	short := core.Config{NegativeTTL: 50 * time.Millisecond, Jitter: -1}
	a := newInstanceWith(t, srv, store, "resurrect:", short)
	b := newInstanceWith(t, srv, store, "resurrect:", short)
	if _, err := a.cache.Create(ctx, users.User{Name: "gone", Email: "old@example.com"}); err != nil {
		t.Fatal(err)
	}

	a.openBreaker(t, srv)
	if _, err := a.cache.Update(ctx, users.User{Name: "gone", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	if a.cache.Stats().Queued != 1 {
		t.Fatalf("Queued = %d; want a's update queued", a.cache.Stats().Queued)
	}
	if err := b.cache.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the marker's TTL passes; no assertion depends on the timing
	waitFor(t, "a's queued write to be republished", func() bool { return a.cache.Stats().Queued == 0 })
	b.settle(t, "gone", "")
	a.settle(t, "gone", "")
}

// Redis that answers reads but refuses writes (OOM under noeviction): the
// writer still reads its own writes, from the store, while the write waits,
// and other instances get it once Redis takes writes again.
func TestWritesRefusedByRedis(t *testing.T) {
	srv, a, b := twoInstances(t, "oom:")
	if _, err := a.cache.Create(ctx, users.User{Name: "hot", Email: "0@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "hot", "0@example.com")
	a.settle(t, "hot", "0@example.com")
	for _, args := range [][]string{{"CONFIG", "SET", "maxmemory-policy", "noeviction"}, {"CONFIG", "SET", "maxmemory", "1"}} {
		if _, err := srv.Do(args...); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // readers racing the writes fill L1 whenever they can
		for {
			select {
			case <-stop:
				return
			default:
				a.read(t, "hot")
			}
		}
	})
	for i := 1; i <= 50; i++ {
		want := fmt.Sprintf("%d@example.com", i)
		if _, err := a.cache.Update(ctx, users.User{Name: "hot", Email: want}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got, src := a.read(t, "hot"); got != want {
				t.Fatalf("update %d refused by Redis: writer then read %q from %v; want %q", i, got, src, want)
			}
		}
	}
	close(stop)
	wg.Wait()
	if got, _ := b.read(t, "hot"); got != "0@example.com" {
		t.Logf("b already serves %q", got) // Redis took no write, so b cannot know yet
	}
	if _, err := srv.Do("CONFIG", "SET", "maxmemory", "0"); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "hot", "50@example.com")
	a.settle(t, "hot", "50@example.com")
}
