package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
	"github.com/tiercache/tiercache/internal/launch"
	"github.com/tiercache/tiercache/internal/redistest"
)

// redisServer is what the tests need of a Redis: the URL that the tier
// connects to, and Do to set up and inspect keys.
type redisServer interface {
	URL() string
	Do(args ...string) (string, error)
}

// clusterServer is a Redis Cluster reached through one seed address, its
// first node. Do sends a command with a key (args[1]) to the master that
// serves the key, and any other command to the seed.
type clusterServer struct{ *launch.Cluster }

func (c clusterServer) Do(args ...string) (string, error) {
	n := c.Nodes[0]
	if len(args) > 1 {
		m, err := c.MasterOf(args[1])
		if err != nil {
			return "", err
		}
		n = m
	}
	return n.Do(args...)
}

// shared is the one Redis Cluster that the tests of this package share: it
// takes seconds to create. The first test that needs it starts it, and
// TestMain stops it.
var shared struct {
	once    sync.Once
	dir     string
	cluster *launch.Cluster
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedCluster returns the shared cluster, emptied: every master flushed.
// Tests that use it must not run in parallel with each other.
func sharedCluster(t *testing.T) clusterServer {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "redis-cluster-"); shared.err != nil {
			return
		}
		begin := time.Now()
		shared.cluster, shared.err = launch.StartCluster(shared.dir)
		t.Logf("cluster created in %v", time.Since(begin))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	ms, err := shared.cluster.Masters()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := m.Do("FLUSHALL"); err != nil {
			t.Fatal(err)
		}
	}
	return clusterServer{shared.cluster}
}

// onEach runs test on a single Redis and on the shared cluster, which the
// tier reaches through one seed address.
func onEach(t *testing.T, test func(t *testing.T, srv redisServer)) {
	t.Run("single", func(t *testing.T) { test(t, redistest.Start(t)) })
	t.Run("cluster", func(t *testing.T) { test(t, sharedCluster(t)) })
}

// offSeed returns a prefix, base+":" for a single Redis, such that
// prefix+name lands on a master of a cluster other than the seed node.
func offSeed(t *testing.T, srv redisServer, base, name string) string {
	t.Helper()
	c, ok := srv.(clusterServer)
	if !ok {
		return base + ":"
	}
	for i := 0; ; i++ {
		prefix := fmt.Sprintf("%s%d:", base, i)
		m, err := c.MasterOf(prefix + name)
		if err != nil {
			t.Fatal(err)
		}
		if m != c.Nodes[0] {
			return prefix
		}
	}
}

// spread returns names such that prefix+name lands on each master of a
// cluster, one name each, the first on a master other than the seed node;
// for a single Redis it returns base alone.
func spread(t *testing.T, srv redisServer, prefix, base string) []string {
	t.Helper()
	c, ok := srv.(clusterServer)
	if !ok {
		return []string{base}
	}
	ms, err := c.Masters()
	if err != nil {
		t.Fatal(err)
	}
	byMaster := map[*launch.Redis]string{}
	for i := 0; len(byMaster) < len(ms); i++ {
		name := fmt.Sprintf("%s%d", base, i)
		m, err := c.MasterOf(prefix + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byMaster[m]; !ok {
			byMaster[m] = name
		}
	}
	var names []string
	for _, m := range ms {
		if m != c.Nodes[0] {
			names = append(names, byMaster[m])
		}
	}
	if n, ok := byMaster[c.Nodes[0]]; ok {
		names = append(names, n)
	}
	return names
}

// recorder is an Invalidator that remembers what it was told.
type recorder struct {
	mu    sync.Mutex
	keys  []string
	flush atomic.Int64
}

func (r *recorder) Invalidate(keys []string) {
	if keys == nil {
		r.flush.Add(1)
		return
	}
	r.mu.Lock()
	r.keys = append(r.keys, keys...)
	r.mu.Unlock()
}

func (r *recorder) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.keys, key)
}

var prefixes atomic.Int64

// newPrefix returns a prefix that no tier used before.
func newPrefix() string { return fmt.Sprintf("test%d:", prefixes.Add(1)) }

func newTier(t *testing.T, srv redisServer, inv core.Invalidator) *redis.Tier {
	t.Helper()
	return newTierAt(t, srv, newPrefix(), inv)
}

// newTierAt is newTier on prefix, to share it with another tier.
func newTierAt(t *testing.T, srv redisServer, prefix string, inv core.Invalidator) *redis.Tier {
	t.Helper()
	return newTierWith(t, redis.Config{URL: srv.URL(), Prefix: prefix}, inv)
}

// newTierWith is newTier with cfg, whose Timeout defaults to 1s.
func newTierWith(t *testing.T, cfg redis.Config, inv core.Invalidator) *redis.Tier {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second // generous: -race on 2 cores
	}
	tier, err := redis.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tier.Subscribe(inv)
	t.Cleanup(tier.Close)
	return tier
}

// waitFor polls cond until it holds; it fails the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestShared(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		coretest.TestShared(t, func(t *testing.T) (core.Shared, core.Shared) {
			prefix := newPrefix()
			return newTierAt(t, srv, prefix, &recorder{}), newTierAt(t, srv, prefix, &recorder{})
		})
	})
	// FlushDelay changes when commands reach the socket, not what they do.
	t.Run("flush-delay", func(t *testing.T) {
		srv := redistest.Start(t)
		coretest.TestShared(t, func(t *testing.T) (core.Shared, core.Shared) {
			cfg := redis.Config{URL: srv.URL(), Prefix: newPrefix(), FlushDelay: 20 * time.Microsecond}
			return newTierWith(t, cfg, &recorder{}), newTierWith(t, cfg, &recorder{})
		})
	})
}

func TestInvalidationFeed(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var ra, rb recorder
	a := newTier(t, srv, &ra)
	b, err := redis.New(redis.Config{URL: srv.URL(), Prefix: "test-b:"})
	if err != nil {
		t.Fatal(err)
	}
	b.Subscribe(&rb)
	defer b.Close()
	// a and b use different prefixes; write a's key from a third client.
	if _, _, err := a.Get(ctx, "kiran"); err != nil { // tracks the key for a
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("test%d:", prefixes.Load())
	if _, err := srv.Do("SET", prefix+"kiran", "v2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalidation of kiran", func() bool { return ra.has("kiran") })
	if rb.has("kiran") {
		t.Error("b, which never read the key and uses another prefix, was told of it")
	}

	// FLUSHALL and a killed connection arrive as Invalidate(nil).
	before := ra.flush.Load()
	if _, err := srv.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Invalidate(nil) after FLUSHALL", func() bool { return ra.flush.Load() > before })
	before = ra.flush.Load()
	if _, err := srv.Do("CLIENT", "KILL", "TYPE", "normal"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Invalidate(nil) after CLIENT KILL", func() bool { return ra.flush.Load() > before })
}

// Redis down: calls fail fast once the breaker is open; Redis back: the tier
// recovers by itself and flushes L1.
func TestBreaker(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var r recorder
	tier := newTier(t, srv, &r)
	if err := tier.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	waitFor(t, "the breaker to open", func() bool {
		_, _, err := tier.Get(ctx, "other")
		return err != nil && tier.Status() == "degraded"
	})
	if _, _, err := tier.Get(ctx, "k"); err != core.ErrUnavailable {
		t.Fatalf("Get with the breaker open: got %v; want core.ErrUnavailable", err)
	}
	flushes := r.flush.Load()
	srv.Restart()
	waitFor(t, "the breaker to close", func() bool { return tier.Status() == "ok" })
	if r.flush.Load() == flushes {
		t.Error("no Invalidate(nil) on recovery; L1 entries filled during the outage would survive it")
	}
	if err := tier.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatalf("Set after recovery: %v", err)
	}
	if v, ok, err := tier.Get(ctx, "k"); err != nil || !ok || string(v) != "v2" {
		t.Fatalf("Get after recovery = %q, %v, %v; want v2", v, ok, err)
	}
}

func TestDownAtStart(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tier, err := redis.New(redis.Config{URL: fmt.Sprintf("redis://127.0.0.1:%d", port)})
	if err != nil {
		t.Fatalf("New with Redis down: %v; want a degraded tier", err)
	}
	defer tier.Close()
	if got := tier.Status(); got != "degraded" {
		t.Fatalf("Status = %q; want degraded", got)
	}
}

// Version reads what NextVersion counted, per key, and 0 for a key never
// counted; the counter expires after its TTL.
func TestVersions(t *testing.T) {
	srv := redistest.Start(t)
	tier := newTier(t, srv, &recorder{})
	ctx := context.Background()
	if v, err := tier.Version(ctx, "/a"); err != nil || v != 0 {
		t.Fatalf("Version of a new key = %d, %v; want 0, nil", v, err)
	}
	for want := uint64(1); want <= 3; want++ {
		v, err := tier.NextVersion(ctx, "/a", time.Minute)
		if err != nil || v != want {
			t.Fatalf("NextVersion = %d, %v; want %d", v, err, want)
		}
		if got, err := tier.Version(ctx, "/a"); err != nil || got != want {
			t.Fatalf("Version = %d, %v; want %d", got, err, want)
		}
	}
	if v, err := tier.Version(ctx, "/b"); err != nil || v != 0 {
		t.Fatalf("Version of another key = %d, %v; want 0", v, err)
	}
	if _, err := tier.NextVersion(ctx, "/short", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the counter to expire", func() bool {
		v, err := tier.Version(ctx, "/short")
		return err == nil && v == 0
	})
}

// Timeout bounds a call whether its context can end or not (which shares
// its deadline with other calls; see Tier.timeout), and the end of a
// context that can end reaches the call.
func TestTimeout(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 100 * time.Millisecond
	tier, err := redis.New(redis.Config{URL: srv.URL(), Prefix: newPrefix(), Timeout: timeout, BreakerThreshold: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	bg := context.Background()
	if _, _, err := tier.Get(bg, "k"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	cancelable, cancel2 := context.WithCancel(bg)
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"background", bg, context.DeadlineExceeded},
		{"without cancel", context.WithoutCancel(canceled), context.DeadlineExceeded},
		{"cancelable", cancelable, context.DeadlineExceeded},
		{"canceled", canceled, context.Canceled},
	} {
		// The second call may share the first one's deadline.
		for range 2 {
			begin := time.Now()
			_, _, err := tier.Get(tc.ctx, "k")
			took := time.Since(begin)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: Get with Redis paused: got %v; want %v", tc.name, err, tc.want)
			}
			// Generous above: -race on 2 busy cores.
			if tc.want == context.DeadlineExceeded && (took < timeout || took > 10*timeout) {
				t.Errorf("%s: Get with Redis paused took %v; want %v to %v", tc.name, took, timeout, 10*timeout)
			}
		}
	}
}
