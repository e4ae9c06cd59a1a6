package redis_test

// Redis Cluster through one seed address, a cluster down at start, and the
// error replies that refuse a call.

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/syncbuf"
	"github.com/tiercache/tiercache/users"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/users/memory"
)

// logBuffer is the log sink of a tier that tests read.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// A tier given one node of a cluster, a master or a replica, serves keys
// on every master, and hears of their changes.
func TestOneSeedFindsTheCluster(t *testing.T) {
	c := sharedCluster(t)
	roles, err := c.Roles()
	if err != nil {
		t.Fatal(err)
	}
	var replica string
	for _, r := range roles {
		if !r.Master {
			replica = r.Node.URL()
			break
		}
	}
	for _, seed := range []string{c.URL(), replica} {
		t.Run(strings.TrimPrefix(seed, "redis://"), func(t *testing.T) {
			prefix := fmt.Sprintf("seed%d:", prefixes.Add(1))
			var ra recorder
			a, err := redis.New(redis.Config{URL: seed, Prefix: prefix, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			a.Subscribe(&ra)
			defer a.Close()
			b, err := redis.New(redis.Config{URL: seed, Prefix: prefix, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			names := spread(t, c, prefix, "k")
			if len(names) != 3 {
				t.Fatalf("names on %d masters; want 3", len(names))
			}
			for _, name := range names {
				if err := a.Set(ctx, name, []byte("v1"), time.Minute); err != nil {
					t.Fatalf("Set(%s): %v", name, err)
				}
				if v, ok, err := b.Get(ctx, name); err != nil || !ok || string(v) != "v1" {
					t.Fatalf("Get(%s) = %q, %v, %v; want v1", name, v, ok, err)
				}
				if _, _, err := a.Get(ctx, name); err != nil { // a reads it through its cache
					t.Fatal(err)
				}
				if _, err := c.Do("SET", prefix+name, "by hand"); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the invalidation of "+name, func() bool { return ra.has(name) })
			}
			for _, tier := range []*redis.Tier{a, b} {
				if got := tier.Status(); got != "ok" {
					t.Errorf("Status = %s; want ok", got)
				}
				if got := tier.Refused(); got != 0 {
					t.Errorf("Refused = %d; want 0", got)
				}
			}
		})
	}
}

// A cluster whose nodes are all down at start does not stop the tier from
// starting, through one seed or every address; once the nodes are back
// the tier connects by itself and serves keys on every master.
func TestClusterDownAtStart(t *testing.T) {
	c := redistest.StartCluster(t)
	c.Stop()
	var tiers []*redis.Tier
	for _, url := range []string{c.URL(), c.URLAll()} {
		tier, err := redis.New(redis.Config{URL: url, Prefix: "down:", Timeout: time.Second, ProbeInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("New(%s) with every node down: %v; want a degraded tier", url, err)
		}
		t.Cleanup(tier.Close)
		if got := tier.Status(); got != "degraded" {
			t.Fatalf("Status = %s; want degraded", got)
		}
		if _, _, err := tier.Get(ctx, "k"); err != core.ErrUnavailable {
			t.Fatalf("Get with every node down: %v; want core.ErrUnavailable", err)
		}
		if err := tier.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Set with every node down: %v; want core.ErrUnavailable", err)
		}
		if _, _, err := tier.SetVersion(ctx, "k", core.Entry{Value: []byte("v"), Version: 1, Found: true}, time.Minute); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("SetVersion with every node down: %v; want core.ErrUnavailable", err)
		}
		if _, err := tier.Replace(ctx, "k", core.Entry{Value: []byte("v"), Version: 2, Found: true}, 1, time.Minute); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Replace with every node down: %v; want core.ErrUnavailable", err)
		}
		if err := tier.Del(ctx, "k"); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Del with every node down: %v; want core.ErrUnavailable", err)
		}
		tiers = append(tiers, tier)
	}
	time.Sleep(300 * time.Millisecond) // a few probes fail
	for _, n := range c.Nodes {
		if err := n.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitOK()
	names := spread(t, clusterServer{c.Cluster}, "down:", "k")
	for i, tier := range tiers {
		waitFor(t, "the tier to connect", func() bool { return tier.Status() == "ok" })
		for _, name := range names {
			val := fmt.Sprintf("v%d", i)
			if err := tier.Set(ctx, name, []byte(val), time.Minute); err != nil {
				t.Fatalf("Set(%s): %v", name, err)
			}
			if v, ok, err := tier.Get(ctx, name); err != nil || !ok || string(v) != val {
				t.Fatalf("Get(%s) = %q, %v, %v; want %s", name, v, ok, err, val)
			}
		}
	}
}

// urlServer is a Redis reached through another URL (another user).
type urlServer struct {
	redisServer
	url string
}

func (u urlServer) URL() string { return u.url }

// checkRefused checks that in's L2 is degraded after a call that Redis
// refused with reason: counted in Stats, logged with the reason, and the
// write queued.
func checkRefused(t *testing.T, in *instance, logs *logBuffer, reason string) {
	t.Helper()
	if got := in.l2.Status(); got != "degraded" {
		t.Errorf("Status after a %s reply = %s; want degraded", reason, got)
	}
	if got := in.cache.Stats().L2Refused; got == 0 {
		t.Errorf("Stats().L2Refused = 0 after a %s reply; want it counted", reason)
	}
	if want := `msg="redis refused a call" reason=` + reason; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q; got:\n%s", want, logs)
	}
	if got := in.cache.Stats().Queued; got != 1 {
		t.Errorf("Queued = %d; want the refused write queued", got)
	}
}

// An ACL user without the key pattern (NOPERM on GETRANGE and EVAL): the
// tier is degraded, the refusals are counted and logged, the writer reads
// its own write from the store, and once the ACL is fixed the queued write
// reaches the other instances.
func TestNoPermission(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("ACL", "SETUSER", "tc", "on", ">s3cret", "~other:*", "+@all"); err != nil {
		t.Fatal(err)
	}
	limited := urlServer{srv, "redis://tc:s3cret@" + strings.TrimPrefix(srv.URL(), "redis://")}
	store := memory.New()
	var logs logBuffer
	a := newInstanceL2(t, redis.Config{URL: limited.URL(), Prefix: "acl:", Logger: logs.logger()}, store, core.Config{})
	b := newInstance(t, srv, store, "acl:")
	if _, err := b.cache.Create(ctx, users.User{Name: "hot", Email: "old@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "hot", "old@example.com")

	// The read is refused (GETRANGE), and answered from the store.
	if got, src := a.read(t, "hot"); got != "old@example.com" || src != core.SourceStore {
		t.Errorf("a reads %q from %v; want old@example.com from the store", got, src)
	}
	if got := a.l2.Status(); got != "degraded" {
		t.Errorf("Status after a refused read = %s; want degraded", got)
	}
	if _, err := a.cache.Update(ctx, users.User{Name: "hot", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, a, &logs, "NOPERM")
	if got, src := a.read(t, "hot"); got != "new@example.com" || src != core.SourceStore {
		t.Errorf("writer reads %q from %v; want new@example.com from the store", got, src)
	}
	time.Sleep(600 * time.Millisecond) // a probe or two, still refused
	if got := a.l2.Status(); got != "degraded" {
		t.Errorf("Status while the ACL still refuses = %s; want degraded", got)
	}

	if _, err := srv.Do("ACL", "SETUSER", "tc", "~acl:*"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued write to be published", func() bool {
		return a.cache.Stats().Queued == 0 && a.l2.Status() == "ok"
	})
	b.settle(t, "hot", "new@example.com")
	a.settle(t, "hot", "new@example.com")
}

// A replica given as the Redis to use refuses writes (READONLY) while it
// serves reads: the tier is degraded, and recovers when the replica is
// promoted.
func TestReadOnlyReplica(t *testing.T) {
	master := redistest.Start(t)
	host, port, _ := strings.Cut(strings.TrimPrefix(master.URL(), "redis://"), ":")
	replica := redistest.Start(t, "--replicaof", host, port)
	store := memory.New()
	var logs logBuffer
	a := newInstanceL2(t, redis.Config{URL: replica.URL(), Prefix: "ro:", Logger: logs.logger()}, store, core.Config{})
	if _, err := a.cache.Create(ctx, users.User{Name: "hot", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, a, &logs, "READONLY")
	if _, err := replica.Do("REPLICAOF", "NO", "ONE"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued write to be published", func() bool {
		return a.cache.Stats().Queued == 0 && a.l2.Status() == "ok"
	})
	if raw, err := replica.Do("GET", "ro:hot"); err != nil || !strings.Contains(raw, "new@example.com") {
		t.Fatalf("the promoted replica holds %q, %v; want the write", raw, err)
	}
}

// A cluster node whose user may not run CLUSTER SLOTS would leave rueidis
// in single-node mode, where keys on the other masters answer MOVED: New
// refuses it, with the fix.
func TestClusterNodeWithoutClusterSlots(t *testing.T) {
	c := sharedCluster(t)
	seed := c.Nodes[0]
	if _, err := seed.Do("ACL", "SETUSER", "noslots", "on", ">s3cret", "~*", "+@all", "-cluster|slots"); err != nil {
		t.Fatal(err)
	}
	checkStartError(t, "redis://noslots:s3cret@"+seed.Addr,
		"redis: redis://noslots:xxxxx@"+seed.Addr+" is a Redis Cluster node but refused CLUSTER SLOTS, so keys on the other nodes would answer MOVED: allow it (ACL +cluster|slots)")
	// A wrong password stays a start-up error on a cluster, as on a single Redis.
	checkStartError(t, "redis://noslots:wrong-s3cret@"+seed.Addr, "refused the connection: WRONGPASS")
	checkStartError(t, strings.Replace(c.URLAll(), "redis://", "redis://noslots:wrong-s3cret@", 1), "refused the connection: WRONGPASS")
}

// The same user without INFO either cannot be told from a single Redis:
// keys on the other masters answer MOVED, which is refused, not served as
// if Redis had answered.
func TestMovedIsRefused(t *testing.T) {
	c := sharedCluster(t)
	seed := c.Nodes[0]
	if _, err := seed.Do("ACL", "SETUSER", "noslotsinfo", "on", ">s3cret", "~*", "+@all", "-cluster|slots", "-info"); err != nil {
		t.Fatal(err)
	}
	url := "redis://noslotsinfo:s3cret@" + seed.Addr
	var logs logBuffer
	prefix := offSeed(t, c, "moved", "hot")
	a := newInstanceL2(t, redis.Config{URL: url, Prefix: prefix, Logger: logs.logger()}, memory.New(), core.Config{})
	if _, err := a.cache.Create(ctx, users.User{Name: "hot", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, a, &logs, "MOVED")
}
