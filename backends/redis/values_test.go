package redis_test

// What Redis holds is checked before it is served, and what the store
// acknowledged always ends up in Redis, whatever Redis held before.

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
)

// l2Value is what the tier stores for u at version: the rendered user in
// the {"v":…,"d":…} envelope.
func l2Value(u users.User, version uint64) string {
	return `{"v":` + strconv.FormatUint(version, 10) + `,"d":` + string(u.AppendJSON(nil)) + `}`
}

// A value in Redis that this cache did not write is never served: not
// another user's data, not a body that is not JSON, not a not-found marker over a
// user who exists, not 20 MiB. The reader answers from the store, counts
// the value, and repairs Redis, even when the bad value carries a version
// far above any the store gave.
func TestBadL2ValuesAreNotServed(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		badL2ValuesAreNotServed(t, srv, offSeed(t, srv, "bad", "p3"))
	})
}

func badL2ValuesAreNotServed(t *testing.T, srv redisServer, prefix string) {
	a, b := twoInstancesOn(t, srv, prefix)
	p3 := users.User{Name: "p3", Email: "p3@example.com"}
	if _, err := a.cache.Create(ctx, p3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, raw string
		hash      bool // set as a hash field, not a string
	}{
		{"another user's data, high version", `{"v":999999999,"d":{"email":"attacker@evil.com","username":"bob"}}`, false},
		{"not JSON", `{"v":1,"d":<html>garbage</html>}`, false},
		{"empty", `{"v":1,"d":}`, false},
		{"not-found marker over a user, high version", `{"v":999999999}`, false},
		{"null over a user, high version", `{"v":999999999,"d":null}`, false},
		{"leading zeros", `{"v":0000000000000000000000000000001,"d":{"email":"attacker@evil.com","username":"bob"}}`, false},
		{"past 2^64", `{"v":99999999999999999999,"d":{"email":"attacker@evil.com","username":"bob"}}`, false},
		{"invalid UTF-8", "{\"v\":999999999,\"d\":{\"email\":\"p3\xff@example.com\",\"username\":\"p3\"}}", false},
		{"20 MiB", `{"v":999999999,"d":{"email":"` + strings.Repeat("a", 20<<20) + `@example.com","username":"p3"}}`, false},
		{"a body without the envelope", `{"email":"attacker@evil.com","username":"p3"}`, false},
		{"a hash", `{"v":999999999,"d":{"email":"attacker@evil.com","username":"p3"}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := []string{"SET", prefix + "p3", tc.raw}
			if tc.hash {
				if _, err := srv.Do("DEL", prefix+"p3"); err != nil {
					t.Fatal(err)
				}
				set = []string{"HSET", prefix + "p3", "d", tc.raw}
			}
			if _, err := srv.Do(set...); err != nil {
				t.Fatal(err)
			}
			// The SET reaches b's L1 as an invalidation, a moment later.
			rejected := b.cache.Stats().L2Rejected
			waitFor(t, "b to read p3 past L1", func() bool {
				got, src := b.read(t, "p3")
				if got != "p3@example.com" {
					t.Fatalf("b serves %q from %v; want p3@example.com", got, src)
				}
				return src != core.SourceL1
			})
			b.settle(t, "p3", "p3@example.com")
			if got := b.cache.Stats().L2Rejected; got == rejected {
				t.Errorf("L2Rejected stayed %d; want the bad value counted", got)
			}
			raw, err := srv.Do("GET", prefix+"p3")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(raw, `,"d":{"email":"p3@example.com","username":"p3"}}`) || len(raw) > 100 {
				t.Fatalf("Redis holds %.100q after the read; want the store's p3", raw)
			}
			// Repaired for every instance, not only for the reader.
			a.settle(t, "p3", "p3@example.com")
		})
	}
}

// A value that looks right but carries a version that the store never
// gave cannot be told apart on a read; the next write must still replace
// it on every instance, and so must a delete and a new registration.
func TestAcknowledgedWritesLandOverAnyVersion(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		acknowledgedWritesLandOverAnyVersion(t, srv, offSeed(t, srv, "land", "p3"))
	})
}

func acknowledgedWritesLandOverAnyVersion(t *testing.T, srv redisServer, prefix string) {
	a, b := twoInstancesOn(t, srv, prefix)
	p3 := users.User{Name: "p3", Email: "p3@example.com"}
	if _, err := a.cache.Create(ctx, p3); err != nil {
		t.Fatal(err)
	}
	poison := func() {
		t.Helper()
		forged := users.User{Name: "p3", Email: "attacker@evil.com"}
		if _, err := srv.Do("SET", prefix+"p3", l2Value(forged, 999999999)); err != nil {
			t.Fatal(err)
		}
		b.settle(t, "p3", "attacker@evil.com") // served, as it is well formed
	}
	poison()
	if _, err := a.cache.Update(ctx, users.User{Name: "p3", Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "p3", "new@example.com")
	a.settle(t, "p3", "new@example.com")

	poison()
	if err := a.cache.Delete(ctx, "p3"); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "p3", "")

	poison()
	if _, err := b.cache.Create(ctx, users.User{Name: "p3", Email: "again@example.com"}); err != nil {
		t.Fatal(err)
	}
	a.settle(t, "p3", "again@example.com")
	b.settle(t, "p3", "again@example.com")

	// Another type under the key: every write would fail on it.
	for _, args := range [][]string{{"DEL", prefix + "p3"}, {"HSET", prefix + "p3", "email", "attacker@evil.com"}} {
		if _, err := srv.Do(args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.cache.Update(ctx, users.User{Name: "p3", Email: "last@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "p3", "last@example.com")
	a.settle(t, "p3", "last@example.com")
	if q := a.cache.Stats().Queued; q != 0 {
		t.Fatalf("Queued = %d after the write over a hash; want 0", q)
	}
}

// A store that is recreated (or restored) counts its versions from the
// start again while Redis keeps the old values: a registration in the new
// store reaches every instance, whether its version is below the old one
// or equal to it.
func TestRecreatedStoreWritesLand(t *testing.T) {
	onEach(t, func(t *testing.T, srv redisServer) {
		recreatedStoreWritesLand(t, srv, offSeed(t, srv, "recreate", "carol"))
	})
}

func recreatedStoreWritesLand(t *testing.T, srv redisServer, prefix string) {
	old := memory.New()
	a := newInstance(t, srv, old, prefix)
	for _, u := range []users.User{{Name: "carol", Email: "old@example.com"}, {Name: "dave", Email: "old@example.com"}} {
		if _, err := a.cache.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// dave's old version is above the one the new store will give him.
	for range 5 {
		if _, err := a.cache.Update(ctx, users.User{Name: "dave", Email: "old@example.com"}); err != nil {
			t.Fatal(err)
		}
	}

	fresh := memory.New()
	b := newInstance(t, srv, fresh, prefix)
	c := newInstance(t, srv, fresh, prefix)
	for _, in := range []*instance{b, c} {
		in.settle(t, "carol", "old@example.com") // Redis still holds the old store's users
	}
	for _, name := range []string{"carol", "dave"} {
		if _, err := b.cache.Create(ctx, users.User{Name: name, Email: "new@example.com"}); err != nil {
			t.Fatal(err)
		}
		b.settle(t, name, "new@example.com")
		c.settle(t, name, "new@example.com")
	}
}

// A flood of lookups of names that do not exist leaves nothing in Redis,
// neither a key per name nor a tracking entry per name, and a registration
// still ends the "not found" that other instances keep in L1.
func TestMissFloodDoesNotFillRedis(t *testing.T) {
	srv, a, b := twoInstances(t, "flood:")
	usedMemory := func() int64 {
		t.Helper()
		info, err := srv.Do("INFO", "memory")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no used_memory in INFO memory: %q", info)
		return 0
	}
	b.settle(t, "newcomer", "") // b keeps "not found" in L1

	const misses, workers = 50_000, 8
	before := usedMemory()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < misses; i += workers {
				if r, err := a.cache.Get(ctx, fmt.Sprintf("nobody%06d", i)); err != core.ErrNotFound {
					t.Errorf("Get(nobody%06d) = %s, %v; want ErrNotFound", i, r.Value, err)
					return
				}
			}
		})
	}
	wg.Wait()
	grown := usedMemory() - before
	keys, err := srv.Do("DBSIZE")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d misses: used_memory grew %d bytes; DBSIZE %s", misses, grown, keys)
	// 2 MB per 200k misses, the bound asked for, is 10 bytes a miss.
	if grown > misses*10 {
		t.Errorf("%d misses grew Redis used_memory by %d bytes; want at most %d", misses, grown, misses*10)
	}
	if _, err := a.cache.Create(ctx, users.User{Name: "newcomer", Email: "n@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.settle(t, "newcomer", "n@example.com")
}
