package coretest

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/core"
)

// testMarkers checks "not found" markers and values of any bytes.
func testMarkers(t *testing.T, one func(t *testing.T) core.Shared) {
	ctx := context.Background()
	value := func(v string, version uint64) core.Entry {
		return core.Entry{Value: []byte(v), Version: version, Found: true}
	}
	marker := func(version uint64) core.Entry { return core.Entry{Version: version} }
	show := func(e core.Entry) string {
		if !e.Found {
			return "a marker"
		}
		return strconv.Quote(string(e.Value))
	}

	t.Run("NotFoundMarkers", func(t *testing.T) {
		s := one(t)
		type step struct {
			e      core.Entry
			held   uint64 // for Replace
			stored bool
			// what SetVersion holds when it does not store
			holds uint64
			// what Get answers afterwards: a value, or a miss when nil
			get []byte
		}
		setVersion := []step{
			{e: marker(5), stored: true},                         // empty key
			{e: value("v3", 3), stored: false, holds: 5},         // older than the marker
			{e: marker(4), stored: false, holds: 5},              // an older marker
			{e: marker(5), stored: false, holds: 5},              // the same marker: a retry
			{e: value("v5", 5), stored: true, get: []byte("v5")}, // same version, another entry
			{e: marker(5), stored: true},                         // and back
			{e: value("v7", 7), stored: true, get: []byte("v7")}, // a newer write
			{e: marker(9), stored: true},                         // a newer delete
			{e: value("v100000000000000000", 100000000000000000), stored: true, get: []byte("v100000000000000000")},
		}
		for _, st := range setVersion {
			stored, held, err := s.SetVersion(ctx, "k", st.e, time.Minute)
			if err != nil || stored != st.stored || !stored && held != st.holds {
				t.Fatalf("SetVersion(%s, %d) = %v, %d, %v; want %v, %d, nil", show(st.e), st.e.Version, stored, held, err, st.stored, st.holds)
			}
			wantGet(t, s, "k", st.get, "after SetVersion("+show(st.e)+")")
		}
		replace := []step{
			{e: marker(6), held: 99999999999999999, stored: false, get: []byte("v100000000000000000")}, // not the version held
			{e: marker(6), held: 100000000000000000, stored: true},                                     // a marker replaces a value
			{e: value("r9", 9), held: 5, stored: false},                                                // not the marker's version
			{e: value("r4", 4), held: 6, stored: true, get: []byte("r4")},                              // a value replaces a marker
			{e: marker(2), held: 4, stored: true},
			{e: marker(3), held: 2, stored: true}, // a marker replaces a marker
		}
		for _, st := range replace {
			replaced, err := s.Replace(ctx, "k", st.e, st.held, time.Minute)
			if err != nil || replaced != st.stored {
				t.Fatalf("Replace(%s, %d, held %d) = %v, %v; want %v, nil", show(st.e), st.e.Version, st.held, replaced, err, st.stored)
			}
			wantGet(t, s, "k", st.get, "after Replace("+show(st.e)+")")
		}
		// The replacing marker holds its own version.
		if stored, held, err := s.SetVersion(ctx, "k", value("v2", 2), time.Minute); err != nil || stored || held != 3 {
			t.Fatalf("SetVersion(v2, 2) over a marker of version 3 = %v, %d, %v; want false, 3, nil", stored, held, err)
		}
		// Tier.Set replaces a marker, and Del removes one.
		if err := s.Set(ctx, "k", []byte("blind"), time.Minute); err != nil {
			t.Fatal(err)
		}
		wantGet(t, s, "k", []byte("blind"), "after Set over a marker")
		if stored, _, err := s.SetVersion(ctx, "k", marker(1), time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion(a marker, 1) over a Tier.Set value = %v, %v; want true, nil", stored, err)
		}
		if err := s.Del(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if stored, _, err := s.SetVersion(ctx, "k", value("v1", 1), time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion(v1, 1) after Del of a marker = %v, %v; want true, nil", stored, err)
		}
	})

	// An expired marker holds no version any more.
	t.Run("MarkersExpire", func(t *testing.T) {
		s := one(t)
		if stored, _, err := s.SetVersion(ctx, "k", marker(5), 20*time.Millisecond); err != nil || !stored {
			t.Fatalf("SetVersion(a marker, 5) = %v, %v; want true, nil", stored, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			stored, _, err := s.SetVersion(ctx, "k", value("v3", 3), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if stored {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a marker with a short TTL still refuses older writes after a long wait")
			}
			time.Sleep(10 * time.Millisecond)
		}
		wantGet(t, s, "k", []byte("v3"), "after the marker expired")
	})

	// A value is any bytes: none at all, or bytes that look like a marker.
	t.Run("AnyBytesAreAValue", func(t *testing.T) {
		s := one(t)
		vals := []string{"", "null", `{"v":1}`, `{"v":2,"d":}`, "}", "\x00"}
		for i, v := range vals {
			if err := s.Set(ctx, "set", []byte(v), time.Minute); err != nil {
				t.Fatalf("Set(%q): %v", v, err)
			}
			wantGet(t, s, "set", []byte(v), "after Set")
			if stored, _, err := s.SetVersion(ctx, "versioned", value(v, uint64(i+1)), time.Minute); err != nil || !stored {
				t.Fatalf("SetVersion(%q, %d) = %v, %v; want true, nil", v, i+1, stored, err)
			}
			wantGet(t, s, "versioned", []byte(v), "after SetVersion")
		}
		// An empty value is not a marker: the same version as a marker is
		// another entry.
		if stored, _, err := s.SetVersion(ctx, "versioned", marker(uint64(len(vals))), time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion(a marker) over an entry of the same version = %v, %v; want true, nil", stored, err)
		}
		wantGet(t, s, "versioned", nil, "after SetVersion of a marker")
		if stored, _, err := s.SetVersion(ctx, "empty", value("", 1), time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion(\"\", 1) = %v, %v; want true, nil", stored, err)
		}
		if stored, held, err := s.SetVersion(ctx, "empty", marker(1), time.Minute); err != nil || !stored {
			t.Fatalf("SetVersion(a marker, 1) over an empty value of version 1 = %v, %d, %v; want true, nil", stored, held, err)
		}
		wantGet(t, s, "empty", nil, "after SetVersion of a marker")
	})
}

// wantGet checks that Get answers want, or a miss when want is nil.
func wantGet(t *testing.T, s core.Shared, key string, want []byte, when string) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), key)
	switch {
	case err != nil:
		t.Fatalf("%s: Get(%q): %v", when, key, err)
	case want == nil && ok:
		t.Fatalf("%s: Get(%q) = %q, true; want a miss", when, key, v)
	case want != nil && (!ok || !bytes.Equal(v, want)):
		t.Fatalf("%s: Get(%q) = %q, %v; want %q, true", when, key, v, ok, want)
	}
}

// feed is an Invalidator that logs what it is told.
type feed struct {
	mu  sync.Mutex
	log [][]string // nil for every key
}

func (f *feed) Invalidate(keys []string) {
	f.mu.Lock()
	f.log = append(f.log, slices.Clone(keys))
	f.mu.Unlock()
}

// mark returns the position in the log from which heard looks.
func (f *feed) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.log)
}

// heard reports whether key, or every key, was reported since mark.
func (f *feed) heard(mark int, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, keys := range f.log[mark:] {
		if keys == nil || slices.Contains(keys, key) {
			return true
		}
	}
	return false
}

// waitHeard waits until f heard key since mark; it fails the test after a
// generous deadline.
func waitHeard(t *testing.T, f *feed, mark int, key, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.heard(mark, key) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q was not reported within 10s", what, key)
		}
		time.Sleep(time.Millisecond)
	}
}

// state is what a key holds before a feed check reads it.
type state struct {
	name  string
	setup func(ctx context.Context, s core.Shared, key string) error
	found bool
	held  uint64 // the version held, zero for none
}

var states = []state{
	{"value", func(ctx context.Context, s core.Shared, key string) error {
		return s.Set(ctx, key, []byte("old"), time.Minute)
	}, true, 0},
	{"versioned", func(ctx context.Context, s core.Shared, key string) error {
		_, _, err := s.SetVersion(ctx, key, core.Entry{Value: []byte("old"), Version: 10, Found: true}, time.Minute)
		return err
	}, true, 10},
	{"absent", func(context.Context, core.Shared, string) error { return nil }, false, 0},
	{"marker", func(ctx context.Context, s core.Shared, key string) error {
		_, _, err := s.SetVersion(ctx, key, core.Entry{Version: 10}, time.Minute)
		return err
	}, false, 10},
}

// change is a write that changes a key in st.
type change struct {
	name    string
	applies func(st state) bool
	do      func(ctx context.Context, s core.Shared, key string, st state) (changed bool, err error)
}

var changes = []change{
	{"Set", func(state) bool { return true }, func(ctx context.Context, s core.Shared, key string, _ state) (bool, error) {
		return true, s.Set(ctx, key, []byte("new"), time.Minute)
	}},
	{"SetVersion", func(state) bool { return true }, func(ctx context.Context, s core.Shared, key string, st state) (bool, error) {
		stored, _, err := s.SetVersion(ctx, key, core.Entry{Value: []byte("new"), Version: st.held + 1, Found: true}, time.Minute)
		return stored, err
	}},
	{"SetVersionMarker", func(state) bool { return true }, func(ctx context.Context, s core.Shared, key string, st state) (bool, error) {
		stored, _, err := s.SetVersion(ctx, key, core.Entry{Version: st.held + 1}, time.Minute)
		return stored, err
	}},
	{"Replace", func(st state) bool { return st.held > 0 }, func(ctx context.Context, s core.Shared, key string, st state) (bool, error) {
		return s.Replace(ctx, key, core.Entry{Value: []byte("new"), Version: 1, Found: true}, st.held, time.Minute)
	}},
	{"Del", func(st state) bool { return st.found || st.held > 0 }, func(ctx context.Context, s core.Shared, key string, _ state) (bool, error) {
		return true, s.Del(ctx, key)
	}},
}

// testFeed checks the invalidation feed with two handles on one storage.
func testFeed(t *testing.T, newShared func(t *testing.T) (a, b core.Shared)) {
	ctx := context.Background()
	// read reads key through s, which must find it or miss as st says.
	read := func(t *testing.T, s core.Shared, key string, st state) {
		t.Helper()
		v, ok, err := s.Get(ctx, key)
		if err != nil || ok != st.found {
			t.Fatalf("Get(%q) of a %s key = %q, %v, %v; want found %v", key, st.name, v, ok, err, st.found)
		}
	}
	write := func(t *testing.T, s core.Shared, key string, st state, c change) {
		t.Helper()
		if changed, err := c.do(ctx, s, key, st); err != nil || !changed {
			t.Fatalf("%s of a %s key = %v, %v; want it to change the key", c.name, st.name, changed, err)
		}
	}
	setup := func(t *testing.T, s core.Shared, key string, st state) {
		t.Helper()
		if err := st.setup(ctx, s, key); err != nil {
			t.Fatalf("setting up a %s key: %v", st.name, err)
		}
	}

	// A change through one handle reaches the other handle's invalidator
	// when that handle read the key, a hit or a miss.
	t.Run("FeedReportsOtherHandlesChanges", func(t *testing.T) {
		a, b := newShared(t)
		var fa, fb feed
		a.Subscribe(&fa)
		b.Subscribe(&fb)
		for _, st := range states {
			for _, c := range changes {
				if !c.applies(st) {
					continue
				}
				key := st.name + "-" + c.name
				// Set up through b, whose own writes return after b
				// processed what they caused, so that nothing of the setup
				// arrives after the mark.
				setup(t, b, key, st)
				read(t, b, key, st)
				mark := fb.mark()
				write(t, a, key, st, c)
				waitHeard(t, &fb, mark, key, c.name+" through a of a "+st.name+" key that b read")
			}
		}
	})

	// Once a key is read again after an invalidation, its next change is
	// reported again.
	t.Run("FeedReportsAgainAfterARead", func(t *testing.T) {
		a, b := newShared(t)
		var fb feed
		b.Subscribe(&fb)
		st := states[1] // versioned
		setup(t, b, "k", st)
		for round := range 6 {
			read(t, b, "k", st)
			mark := fb.mark()
			c := changes[1] // SetVersion
			next := state{name: "versioned", found: true, held: st.held + 1}
			if round%2 == 1 {
				c = changes[2] // SetVersionMarker
				next.found = false
			}
			write(t, a, "k", st, c)
			waitHeard(t, &fb, mark, "k", "change "+strconv.Itoa(round)+" of a key that b read again")
			st = next
		}
	})

	// A write returns after its own handle's invalidator heard of it, when
	// that handle read the key: checked right away, without waiting.
	t.Run("FeedReportsOwnWritesBeforeTheyReturn", func(t *testing.T) {
		a, _ := newShared(t)
		var fa feed
		a.Subscribe(&fa)
		for round := range 3 {
			for _, st := range states {
				for _, c := range changes {
					if !c.applies(st) {
						continue
					}
					key := st.name + "-" + c.name + "-" + strconv.Itoa(round)
					setup(t, a, key, st)
					read(t, a, key, st)
					mark := fa.mark()
					write(t, a, key, st, c)
					if !fa.heard(mark, key) {
						t.Fatalf("%s of a %s key that this handle read returned before its invalidator heard of it", c.name, st.name)
					}
				}
			}
		}
	})

	t.Run("SubscribeReplaces", func(t *testing.T) {
		a, b := newShared(t)
		var first, second feed
		b.Subscribe(&first)
		setup(t, b, "k", states[0])
		read(t, b, "k", states[0])
		b.Subscribe(&second)
		mark1, mark2 := first.mark(), second.mark()
		write(t, a, "k", states[0], changes[0])
		waitHeard(t, &second, mark2, "k", "Set through a of a key that b read")
		if first.heard(mark1, "k") {
			t.Fatal("the invalidator that Subscribe replaced still hears of changes")
		}
	})
}
