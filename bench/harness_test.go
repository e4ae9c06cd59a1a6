package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/backends/otter"
	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/launch"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/bolt"
	"github.com/tiercache/tiercache/users/memory"
)

// The harness is the state that the benchmarks of one process share: one
// redis-server, the seeded data sets, and every environment built so far.
// It lives for the process (TestMain tears it down), hence a package
// variable.
//
// redistest.Start would stop its server at the end of the first benchmark
// that asked for it (it registers tb.Cleanup), so the harness calls
// launch.StartRedis, which redistest wraps, and stops the server itself.
var h harness

type harness struct {
	redisOnce sync.Once
	redis     *launch.Redis // nil until first needed
	redisErr  error

	mu      sync.Mutex
	dir     string // temporary: redis-server's files, bolt files
	seeded  int    // users [0, seeded) are in Redis under defaultPrefix
	stores  map[int]*memory.Store
	envs    map[string]any
	closers []func() // run in reverse order by close
}

func TestMain(m *testing.M) {
	code := m.Run()
	h.close()
	os.Exit(code)
}

// logger receives the warnings of the components under test. A benchmark
// whose run logs anything has gone off its path: let it show in the output.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func (h *harness) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
	h.closers = nil
	if h.redis != nil {
		h.redis.Stop()
	}
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}

// onClose registers f to run when the process ends.
func (h *harness) onClose(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closers = append(h.closers, f)
}

// tempDir returns a fresh directory under the harness's temporary directory,
// which is under os.TempDir: bench/run.sh checks that it is not a tmpfs,
// where bbolt's fsync would cost nothing.
func (h *harness) tempDir(tb testing.TB, name string) string {
	tb.Helper()
	d, err := h.mkdir(name)
	if err != nil {
		tb.Fatalf("cannot create temporary directory: %v", err)
	}
	return d
}

func (h *harness) mkdir(name string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == "" {
		d, err := os.MkdirTemp("", "tiercache-bench-")
		if err != nil {
			return "", err
		}
		h.dir = d
	}
	return os.MkdirTemp(h.dir, name+"-")
}

// redisServer returns the process's redis-server, starting it on first use.
// A missing binary fails the benchmark with the install hint: never a skip.
func (h *harness) redisServer(tb testing.TB) *launch.Redis {
	tb.Helper()
	h.redisOnce.Do(func() {
		dir, err := h.mkdir("redis")
		if err == nil {
			h.redis, err = launch.StartRedis(dir)
		}
		h.redisErr = err
	})
	if h.redisErr != nil {
		tb.Fatalf("cannot start redis-server: %v", h.redisErr)
	}
	return h.redis
}

// redisCommands returns redis-server's total_commands_processed.
func redisCommands(tb testing.TB, r *launch.Redis) int64 {
	tb.Helper()
	info, err := r.Do("INFO", "stats")
	if err != nil {
		tb.Fatalf("cannot read redis INFO: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("cannot parse total_commands_processed %q: %v", v, err)
			}
			return n
		}
	}
	tb.Fatal("redis INFO stats has no total_commands_processed")
	return 0
}

// The data set: user i is named userName(i), e.g. u0000042, with the email
// u0000042@example.com. Every seeded store creates users in index order, so
// user i has version i+1 in each of them and in Redis.
const (
	maxUsers = 1_000_000
	// entryBytes is what one user costs in the ristretto L1, as the tier
	// charges it: key (8) + core's entry header (kind and epoch, 9; see
	// headerLen in core/local.go) + rendered JSON (54) + EntryOverhead.
	// TestEntryBytes checks it against the rendered user.
	entryBytes = 8 + 9 + 54 + ristretto.EntryOverhead
	// counterBytes is what one admission counter costs, as the ristretto
	// tier charges it (counterBytes in backends/ristretto).
	counterBytes = 3
)

var (
	namesOnce sync.Once
	names     []string // userName(i) for i < maxUsers
)

// userNames returns the names of all maxUsers users.
func userNames() []string {
	namesOnce.Do(func() {
		names = make([]string, maxUsers)
		for i := range names {
			names[i] = userName(i)
		}
	})
	return names
}

func userName(i int) string { return fmt.Sprintf("u%07d", i) }

func userOf(name string) users.User { return users.User{Name: name, Email: name + "@example.com"} }

// memStore returns the memory store holding users [0, n), shared by every
// benchmark that asks for n. Nobody writes to it.
func (h *harness) memStore(tb testing.TB, n int) *memory.Store {
	tb.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.stores[n]; ok {
		return s
	}
	s := seededMemory(tb, n)
	if h.stores == nil {
		h.stores = make(map[int]*memory.Store)
	}
	h.stores[n] = s
	return s
}

// seededMemory returns a new memory store of users [0, n).
func seededMemory(tb testing.TB, n int) *memory.Store {
	tb.Helper()
	s := memory.New()
	for _, name := range userNames()[:n] {
		if _, err := s.Create(context.Background(), userOf(name)); err != nil {
			tb.Fatalf("cannot seed memory store: %v", err)
		}
	}
	return s
}

// defaultPrefix is the Redis key prefix of the seeded users; benchmarks that
// write use prefixes of their own.
const defaultPrefix = "tiercache:user:"

// seedRedis makes sure users [0, n) are in Redis under defaultPrefix, as
// redis.Tier.SetVersion would have stored them with their store versions,
// for an hour.
//
// SetVersion is one EVAL and one barrier read per key, too slow for a
// million keys, so the values are written with pipelined SETs (DoMulti) in
// the documented format {"v":VERSION,"d":USER_JSON} (README, "Versions
// order the writes"). The check at the end reads back through a redis.Tier:
// if the format ever changes, the seeding fails instead of benchmarking
// misses.
func (h *harness) seedRedis(tb testing.TB, n int) {
	tb.Helper()
	r := h.redisServer(tb)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seeded >= n {
		return
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{r.Addr}, DisableCache: true, ForceSingleClient: true,
	})
	if err != nil {
		tb.Fatalf("cannot connect to redis: %v", err)
	}
	defer client.Close()
	const batch = 2000
	ctx := context.Background()
	all := userNames()
	cmds := make(rueidis.Commands, 0, batch)
	var val []byte
	for lo := h.seeded; lo < n; lo += batch {
		cmds = cmds[:0]
		for i := lo; i < min(lo+batch, n); i++ {
			val = append(val[:0], `{"v":`...)
			val = strconv.AppendInt(val, int64(i+1), 10)
			val = append(val, `,"d":`...)
			val = userOf(all[i]).AppendJSON(val)
			val = append(val, '}')
			cmds = append(cmds, client.B().Set().Key(defaultPrefix+all[i]).Value(string(val)).PxMilliseconds(time.Hour.Milliseconds()).Build())
		}
		for _, res := range client.DoMulti(ctx, cmds...) {
			if err := res.Error(); err != nil {
				tb.Fatalf("cannot seed redis: %v", err)
			}
		}
	}
	h.seeded = n

	// Read the first and the last back as the L2 tier reads them.
	t, err := redis.New(redis.Config{URL: r.URL(), Prefix: defaultPrefix, Logger: logger})
	if err != nil {
		tb.Fatalf("cannot open the L2 tier: %v", err)
	}
	defer t.Close()
	for _, i := range []int{0, n - 1} {
		got, ok, err := t.Get(ctx, all[i])
		want := userOf(all[i]).AppendJSON(nil)
		if err != nil || !ok || string(got) != string(want) {
			tb.Fatalf("seeded user %s reads back through redis.Tier as %q, %v, %v; want %s: has the value format changed?",
				all[i], got, ok, err, want)
		}
	}
}

// boltStore returns a bbolt store (fsync on) in a fresh directory, holding
// users [0, n), created by 64 concurrent writers so that group commit makes
// the seeding quick. It is closed when the process ends.
func (h *harness) boltStore(tb testing.TB, n int) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(filepath.Join(h.tempDir(tb, "bolt"), "users.db"), bolt.Config{})
	if err != nil {
		tb.Fatalf("cannot open bolt: %v", err)
	}
	h.onClose(func() { _ = s.Close() })
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	all := userNames()
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if _, err := s.Create(context.Background(), userOf(all[i])); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatalf("cannot seed bolt: %v", err)
	}
	return s
}

// memo returns the value that build made under key, building it on first
// use. Environments are kept for the process: see the package doc.
func memo[T any](tb testing.TB, key string, build func() T) T {
	tb.Helper()
	h.mu.Lock()
	v, ok := h.envs[key]
	h.mu.Unlock()
	if ok {
		return v.(T)
	}
	t := build() // outside h.mu: builders call the harness
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.envs == nil {
		h.envs = make(map[string]any)
	}
	h.envs[key] = t
	return t
}

// tiers says which cache tiers an env has.
type tiers struct {
	// l1Entries sizes the ristretto L1 to hold this many users (see
	// l1Bytes); 0 means no L1, -1 the production default of 64 MiB.
	l1Entries int
	// otter takes the otter L1 tier instead of ristretto.
	otter bool
	// l2 enables the Redis L2.
	l2 bool
	// prefix of the Redis keys; "" means defaultPrefix, the seeded users.
	prefix string
}

// l1Bytes is the ristretto budget that holds n users: n entries of
// entryBytes and ristretto's advised 10 admission counters per entry.
func l1Bytes(n int) (maxBytes, counters int64) {
	counters = 10 * int64(n)
	return int64(n)*entryBytes + counters*counterBytes, counters
}

// l1Tier is an L1 backend: backends/ristretto or backends/otter.
type l1Tier interface {
	core.Tier
	Close()
}

// newL1 returns an L1 that holds entries users, or the default 64 MiB
// when entries is negative; an otter tier if otter is set, else ristretto.
func newL1(tb testing.TB, entries int, useOtter bool) l1Tier {
	tb.Helper()
	maxBytes, counters := int64(64<<20), int64(0)
	switch {
	case entries < 0:
	case useOtter:
		maxBytes = otterBytes(entries)
	default:
		maxBytes, counters = l1Bytes(entries)
	}
	return newL1Tier(tb, useOtter, maxBytes, counters)
}

// newL1Tier returns an otter or a ristretto L1 of maxBytes, as
// cmd/tiercache makes it; counters sizes ristretto's admission sketch, 0
// for its default.
func newL1Tier(tb testing.TB, useOtter bool, maxBytes, counters int64) l1Tier {
	tb.Helper()
	var (
		l1  l1Tier
		err error
	)
	if useOtter {
		l1, err = otter.New(otter.Config{MaxBytes: maxBytes})
	} else {
		l1, err = ristretto.New(ristretto.Config{MaxBytes: maxBytes, NumCounters: counters})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return l1
}

// otterBytes is the otter budget that holds n users: n entries as the
// otter tier weighs them.
func otterBytes(n int) int64 {
	return int64(n) * (entryBytes - ristretto.EntryOverhead + otter.EntryOverhead)
}

// env is one core.Cache with its tiers, as cmd/tiercache wires them.
type env struct {
	cache *users.Cache
	store users.Store
	l1    l1Tier        // nil without L1
	l2    *redis.Tier   // nil without L2
	redis *launch.Redis // nil without L2
	inv   *countingInvalidator
}

// newEnv builds an env over store; it is closed when the process ends.
func newEnv(tb testing.TB, store users.Store, t tiers) *env {
	tb.Helper()
	e := &env{store: store}
	// Not-found entries live as long as found ones here: the negative-l1
	// path measures a negative hit, and with the default 30s a run that
	// reuses its env past that would meet expired entries.
	cfg := core.Config{Logger: logger, NegativeTTL: time.Hour}
	if t.l1Entries != 0 {
		e.l1 = newL1(tb, t.l1Entries, t.otter)
		cfg.L1 = e.l1
	}
	if t.l2 {
		e.redis = h.redisServer(tb)
		l2, err := redis.New(redis.Config{
			URL: e.redis.URL(), Prefix: cmpOr(t.prefix, defaultPrefix),
			MaxValueBytes: users.MaxBodyBytes, Logger: logger,
		})
		if err != nil {
			tb.Fatal(err)
		}
		e.l2 = l2
		e.inv = &countingInvalidator{}
		cfg.L2 = countingShared{Tier: l2, inv: e.inv}
	}
	c, err := users.NewCache(store, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.cache = c
	h.onClose(e.close)
	return e
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *env) close() {
	e.cache.Close()
	if e.l2 != nil {
		e.l2.Close()
	}
	if e.l1 != nil {
		e.l1.Close()
	}
}

// countingShared is the L2 of an env: it subscribes a countingInvalidator
// around the Cache's L1.
type countingShared struct {
	*redis.Tier
	inv *countingInvalidator
}

func (c countingShared) Subscribe(inv core.Invalidator) {
	c.inv.next = inv
	c.Tier.Subscribe(c.inv)
}

// countingInvalidator counts the keys that Redis invalidated for an env and
// passes them on to its L1.
type countingInvalidator struct {
	next core.Invalidator
	keys atomic.Uint64
	all  atomic.Uint64 // invalidations of everything: connection losses
}

func (c *countingInvalidator) Invalidate(keys []string) {
	if keys == nil {
		c.all.Add(1)
	} else {
		c.keys.Add(uint64(len(keys)))
	}
	c.next.Invalidate(keys)
}

// probe snapshots an env's counters before a measurement; report turns the
// differences into the benchmark's custom metrics.
type probe struct {
	e        *env
	stats    core.Stats
	cmds     int64
	inv, all uint64
}

func (e *env) probe(tb testing.TB) probe {
	tb.Helper()
	e.settle(tb)
	p := probe{e: e, stats: e.cache.Stats()}
	if e.redis != nil {
		p.cmds = redisCommands(tb, e.redis)
		p.inv, p.all = e.inv.keys.Load(), e.inv.all.Load()
	}
	return p
}

// settle waits until L2 serves and has no write waiting for a retry. A run
// that tripped the breaker fails; without this, the next repetitions would
// start while it is still open and fail too, or measure the degraded path.
func (e *env) settle(tb testing.TB) {
	tb.Helper()
	if e.l2 == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.l2.Status() != "ok" || e.cache.Stats().Queued != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("L2 is %s with %d writes queued after 10s", e.l2.Status(), e.cache.Stats().Queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// delta is the difference of the counters since the probe.
type delta struct {
	core.Stats
	redisCmds     int64
	invalidations uint64
}

func (p probe) delta(tb testing.TB) delta {
	tb.Helper()
	s := p.e.cache.Stats()
	d := delta{Stats: core.Stats{
		L1Hits: s.L1Hits - p.stats.L1Hits, L1Misses: s.L1Misses - p.stats.L1Misses,
		L2Hits: s.L2Hits - p.stats.L2Hits, L2Misses: s.L2Misses - p.stats.L2Misses, L2Errors: s.L2Errors - p.stats.L2Errors,
		StoreLoads: s.StoreLoads - p.stats.StoreLoads, StoreErrors: s.StoreErrors - p.stats.StoreErrors,
		Coalesced: s.Coalesced - p.stats.Coalesced, Queued: s.Queued,
	}}
	if p.e.redis != nil {
		// Minus the INFO command that reads the count.
		d.redisCmds = redisCommands(tb, p.e.redis) - p.cmds - 1
		d.invalidations = p.e.inv.keys.Load() - p.inv
		if all := p.e.inv.all.Load() - p.all; all != 0 {
			tb.Errorf("Redis invalidated everything %d times during the run: a connection was lost", all)
		}
	}
	if d.L2Errors != 0 || d.StoreErrors != 0 || d.Queued != 0 {
		tb.Errorf("got %d L2 errors, %d store errors, %d writes queued for L2; want none: the run left its path",
			d.L2Errors, d.StoreErrors, d.Queued)
	}
	return d
}

// report stops the timer and reports the tiers' counters per operation:
// the hit ratio of each tier that the env has and that was asked, the store
// loads, and the commands that redis-server executed (those that a Lua
// script calls included: SetVersion's EVAL counts 3).
func (p probe) report(b *testing.B) delta {
	b.Helper()
	b.StopTimer()
	d := p.delta(b)
	n := float64(b.N)
	if p.e.l1 != nil && d.L1Hits+d.L1Misses > 0 {
		b.ReportMetric(ratio(d.L1Hits, d.L1Misses), "l1-hit-ratio")
	}
	if p.e.l2 != nil {
		if d.L2Hits+d.L2Misses > 0 {
			b.ReportMetric(ratio(d.L2Hits, d.L2Misses), "l2-hit-ratio")
		}
		b.ReportMetric(float64(d.redisCmds)/n, "redis-cmds/op")
	}
	b.ReportMetric(float64(d.StoreLoads)/n, "store-loads/op")
	return d
}

func ratio(hits, misses uint64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}
