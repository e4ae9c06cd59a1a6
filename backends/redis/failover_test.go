package redis_test

// A master failover on a real cluster must not lose an acknowledged write
// for good (issue 10, finding 4).

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/memory"
	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/redistest"
)

// failoverBound is how long after the promotion the tests give every
// instance to serve the latest acknowledged write again; README states
// the bound that the runs measured, well under it.
const failoverBound = 3 * time.Second

// A write that the master acknowledged but never sent to its replica
// (the replica is stopped and its link dropped) is gone from L2 once the master is killed and
// the replica promoted: the writer must publish it again, so that both
// instances serve it: L2 holds it again within failoverBound of the
// promotion, and neither instance serves the old value after it.
func TestFailoverKeepsAcknowledgedWrites(t *testing.T) {
	c := redistest.StartCluster(t)
	srv := clusterServer{c.Cluster}
	const prefix = "failover:"
	name := spread(t, srv, prefix, "hot")[0] // not on the seed, which stays up
	store := memory.New()
	a := newInstanceL2(t, redis.Config{URL: c.URL(), Prefix: prefix}, store, core.Config{})
	b := newInstanceL2(t, redis.Config{URL: c.URL(), Prefix: prefix}, store, core.Config{})
	if _, err := a.cache.Create(ctx, core.User{Name: name, Email: "v1@example.com"}); err != nil {
		t.Fatal(err)
	}
	a.settle(t, name, "v1@example.com")
	b.settle(t, name, "v1@example.com")

	master := c.MasterOf(prefix + name)
	replica, err := c.ReplicaOf(master)
	if err != nil || replica == nil {
		t.Fatalf("ReplicaOf(%s) = %v, %v; want the replica", master.Addr, replica, err)
	}
	// Stopping the replica is not enough to hold the write back: the
	// master would still send it, and the kernel would keep it in the
	// stopped replica's socket for it to read once resumed. So the master
	// also drops the replica's link: the replica, stopped, cannot
	// reconnect before the master dies.
	replica.Pause()
	if _, err := master.Do("CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cache.Update(ctx, core.User{Name: name, Email: "v2@example.com"}); err != nil {
		t.Fatal(err)
	}
	if q := a.cache.Stats().Queued; q != 0 {
		t.Fatalf("Queued = %d after the update; want it acknowledged by L2", q)
	}
	if raw, err := master.Do("GET", prefix+name); err != nil || !strings.Contains(raw, "v2@example.com") {
		t.Fatalf("the master holds %q, %v; want v2", raw, err)
	}
	flushesA, flushesB := a.flushes.n.Load(), b.flushes.n.Load()
	master.Stop()
	killedAt := time.Now()
	replica.Resume()
	promoted := c.WaitFailover(master)
	promotedAt := time.Now()
	t.Logf("%s promoted %v after the kill", promoted.Addr, promotedAt.Sub(killedAt).Round(time.Millisecond))

	// L2 must get the write back: until then an instance that reads
	// through L2 fills L1 with the old value, for the whole TTL. (A read
	// while the breaker is open serves the store's value from an L1 entry
	// of DegradedTTL, 1s, so a settle alone could pass too early.)
	var took time.Duration
	waitFor(t, "the promoted replica to hold v2", func() bool {
		took = time.Since(promotedAt)
		raw, err := promoted.Do("GET", prefix+name)
		return err == nil && strings.Contains(raw, "v2@example.com")
	})
	t.Logf("the promoted replica holds v2 %v after its promotion; L1 dropped whole %d times in a, %d in b",
		took.Round(time.Millisecond), a.flushes.n.Load()-flushesA, b.flushes.n.Load()-flushesB)
	if took > failoverBound {
		t.Errorf("L2 held the lost write's old value for %v after the promotion; want at most %v", took, failoverBound)
	}
	a.settle(t, name, "v2@example.com")
	b.settle(t, name, "v2@example.com")
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		for i, in := range []*instance{a, b} {
			if got, src := in.read(t, name); got != "v2@example.com" {
				t.Fatalf("instance %d serves %q from %v after it served v2; want v2", i, got, src)
			}
		}
	}
}
