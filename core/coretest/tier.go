package coretest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/core"
)

// TestTier is the conformance suite of core.Tier. newTier returns an empty
// tier that lives until the test ends.
func TestTier(t *testing.T, newTier func(t *testing.T) core.Tier) {
	ctx := context.Background()
	get := func(t *testing.T, tier core.Tier, key string) ([]byte, bool) {
		t.Helper()
		v, ok, err := tier.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return v, ok
	}
	set := func(t *testing.T, tier core.Tier, key, val string, ttl time.Duration) {
		t.Helper()
		if err := tier.Set(ctx, key, []byte(val), ttl); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
	}

	t.Run("MissIsNotAnError", func(t *testing.T) {
		tier := newTier(t)
		if v, ok := get(t, tier, "absent"); ok {
			t.Fatalf("got %q, true; want a miss", v)
		}
	})

	t.Run("SetGetDel", func(t *testing.T) {
		tier := newTier(t)
		set(t, tier, "kiran", `{"email":"kiran@example.com","username":"kiran"}`, time.Minute)
		v, ok := get(t, tier, "kiran")
		if !ok || string(v) != `{"email":"kiran@example.com","username":"kiran"}` {
			t.Fatalf("got %q, %v; want the stored value", v, ok)
		}
		if err := tier.Del(ctx, "kiran"); err != nil {
			t.Fatalf("Del: %v", err)
		}
		if v, ok := get(t, tier, "kiran"); ok {
			t.Fatalf("after Del got %q; want a miss", v)
		}
		if err := tier.Del(ctx, "never-set"); err != nil {
			t.Fatalf("Del of an absent key: %v", err)
		}
	})

	t.Run("SetCopiesValue", func(t *testing.T) {
		tier := newTier(t)
		buf := []byte("original")
		if err := tier.Set(ctx, "k", buf, time.Minute); err != nil {
			t.Fatal(err)
		}
		copy(buf, "CHANGED!")
		if v, ok := get(t, tier, "k"); !ok || string(v) != "original" {
			t.Fatalf("got %q, %v; want %q", v, ok, "original")
		}
	})

	t.Run("BinaryValues", func(t *testing.T) {
		tier := newTier(t)
		val := []byte{0, 1, 2, 0xff, '\r', '\n', '"'}
		if err := tier.Set(ctx, "bin", val, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok := get(t, tier, "bin"); !ok || !bytes.Equal(v, val) {
			t.Fatalf("got %q, %v; want %q", v, ok, val)
		}
	})

	// A write is never followed by a read of the value it replaced.
	t.Run("NoOlderValueAfterSet", func(t *testing.T) {
		tier := newTier(t)
		for i := range 500 {
			want := fmt.Sprintf("v%d", i)
			set(t, tier, "rw", want, time.Minute)
			if v, ok := get(t, tier, "rw"); ok && string(v) != want {
				t.Fatalf("iteration %d: got %q; want %q or a miss", i, v, want)
			}
		}
	})

	t.Run("Expires", func(t *testing.T) {
		tier := newTier(t)
		set(t, tier, "short", "x", 20*time.Millisecond)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, ok := get(t, tier, "short"); !ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("entry with a 20ms TTL still present after 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		tier := newTier(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					key := fmt.Sprintf("g%d-%d", g, i%10)
					want := fmt.Sprintf("%d", i)
					if err := tier.Set(ctx, key, []byte(want), time.Minute); err != nil {
						t.Error(err)
						return
					}
					if v, ok, err := tier.Get(ctx, key); err != nil || (ok && string(v) != want) {
						t.Errorf("Get(%q) = %q, %v, %v; want %q or a miss", key, v, ok, err, want)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestShared is the conformance suite of core.Shared beyond TestTier.
//
// newShared returns two handles, a and b, on one new, empty shared storage,
// the way two instances see one L2: what one writes the other reads, and
// each has its own invalidation feed. Both live until the test ends. The
// suite subscribes its own invalidators; handles that report more keys than
// the ones they read pass.
func TestShared(t *testing.T, newShared func(t *testing.T) (a, b core.Shared)) {
	ctx := context.Background()
	one := func(t *testing.T) core.Shared {
		a, _ := newShared(t)
		return a
	}
	t.Run("Tier", func(t *testing.T) {
		TestTier(t, func(t *testing.T) core.Tier { return one(t) })
	})
	t.Run("SetVersionKeepsTheNewest", func(t *testing.T) {
		s := one(t)
		steps := []struct {
			val     string
			version uint64
			stored  bool
			held    uint64 // when not stored
			holds   string
		}{
			{"v5", 5, true, 0, "v5"},       // empty key
			{"v3", 3, false, 5, "v5"},      // older: a delayed write
			{"v5", 5, false, 5, "v5"},      // same version and value: a retry
			{"v5bis", 5, true, 0, "v5bis"}, // same version, another value: another store's
			{"v12", 12, true, 0, "v12"},    // newer; 12 > 5 also as numbers, not only as strings
			{"v100000000000000000", 100000000000000000, true, 0, "v100000000000000000"}, // past 2^53
			{"v99999999999999999", 99999999999999999, false, 100000000000000000, "v100000000000000000"},
		}
		for _, st := range steps {
			stored, held, err := s.SetVersion(ctx, "k", core.Entry{Value: []byte(st.val), Version: st.version, Found: true}, time.Minute)
			if err != nil || stored != st.stored || !stored && held != st.held {
				t.Fatalf("SetVersion(%q, %d) = %v, %d, %v; want %v, %d, nil", st.val, st.version, stored, held, err, st.stored, st.held)
			}
			if v, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(v) != st.holds {
				t.Fatalf("after SetVersion(%q, %d): Get = %q, %v, %v; want %q", st.val, st.version, v, ok, err, st.holds)
			}
		}
		// Tier.Set stores version 0, which any versioned write replaces.
		if err := s.Set(ctx, "k", []byte("blind"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if stored, _, err := s.SetVersion(ctx, "k", core.Entry{Value: []byte("v1"), Version: 1, Found: true}, time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion over a Tier.Set value = %v, %v; want true, nil", stored, err)
		}
	})
	t.Run("ReplaceOnlyTheHeldVersion", func(t *testing.T) {
		s := one(t)
		if stored, _, err := s.SetVersion(ctx, "k", core.Entry{Value: []byte("bogus"), Version: 900, Found: true}, time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion = %v, %v; want true, nil", stored, err)
		}
		steps := []struct {
			val           string
			version, held uint64
			replaced      bool
			holds         string
		}{
			{"v7", 7, 899, false, "bogus"}, // L2 holds another version: leave it
			{"v7", 7, 900, true, "v7"},     // the version held: replace, even with a lower one
			{"v6", 6, 900, false, "v7"},    // a second repair of the same value finds it gone
		}
		for _, st := range steps {
			replaced, err := s.Replace(ctx, "k", core.Entry{Value: []byte(st.val), Version: st.version, Found: true}, st.held, time.Minute)
			if err != nil || replaced != st.replaced {
				t.Fatalf("Replace(%q, %d, held %d) = %v, %v; want %v, nil", st.val, st.version, st.held, replaced, err, st.replaced)
			}
			if v, ok, err := s.Get(ctx, "k"); err != nil || !ok || string(v) != st.holds {
				t.Fatalf("after Replace(%q, %d, held %d): Get = %q, %v, %v; want %q", st.val, st.version, st.held, v, ok, err, st.holds)
			}
		}
		// The replacement is versioned like any write.
		if stored, held, err := s.SetVersion(ctx, "k", core.Entry{Value: []byte("v3"), Version: 3, Found: true}, time.Minute); err != nil || stored || held != 7 {
			t.Fatalf("SetVersion(v3, 3) after Replace = %v, %d, %v; want false, 7, nil", stored, held, err)
		}
	})
	t.Run("ReadYourWrites", func(t *testing.T) {
		s := one(t)
		for i := range 2000 {
			want := fmt.Sprintf("v%d", i)
			if err := s.Set(ctx, "ryw", []byte(want), time.Minute); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Get(ctx, "ryw"); err != nil || !ok || string(v) != want {
				t.Fatalf("iteration %d: Get = %q, %v, %v; want %q", i, v, ok, err, want)
			}
		}
	})
	t.Run("ReadYourVersionedWrites", func(t *testing.T) {
		s := one(t)
		for i := range 2000 {
			want := fmt.Sprintf("v%d", i)
			if stored, _, err := s.SetVersion(ctx, "ryw", core.Entry{Value: []byte(want), Version: uint64(i + 1), Found: true}, time.Minute); err != nil || !stored {
				t.Fatalf("SetVersion %d = %v, %v; want true, nil", i, stored, err)
			}
			if v, ok, err := s.Get(ctx, "ryw"); err != nil || !ok || string(v) != want {
				t.Fatalf("iteration %d: Get = %q, %v, %v; want %q", i, v, ok, err, want)
			}
		}
	})
	t.Run("StatusOK", func(t *testing.T) {
		if got := one(t).Status(); got != "ok" {
			t.Fatalf("got %q; want %q", got, "ok")
		}
	})
	testMarkers(t, one)
	testFeed(t, newShared)
}
