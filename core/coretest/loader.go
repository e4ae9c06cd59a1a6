package coretest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/core"
)

// Source is a source of truth under test: its Loader, and the writes that
// the application makes to it.
type Source struct {
	Loader core.Loader
	// Write stores value under key, creating the key or replacing its
	// value, and returns the version that the source gave the write.
	Write func(key string, value []byte) (version uint64, err error)
	// Delete removes key, which holds a value, and returns the version
	// that the source gave the delete.
	Delete func(key string) (version uint64, err error)
	// Loaded, when set, returns what Load answers for key after
	// Write(key, value), for a source that renders what it stores. When
	// nil, Load must answer value itself.
	Loaded func(key string, value []byte) []byte
}

// TestLoader is the conformance suite of core.Loader: the versions it
// returns must order its values and misses among the source's writes.
// newSource returns a new, empty source that lives until the test ends.
// Write and Delete are called with keys and values of plain ASCII letters,
// digits and punctuation; calls on one key never overlap, calls on
// different keys may.
func TestLoader(t *testing.T, newSource func(t *testing.T) Source) {
	ctx := context.Background()
	// load returns what Load answers for key: found and its value, or a
	// "not found", with the version.
	load := func(t *testing.T, src Source, key string) (val []byte, found bool, version uint64) {
		t.Helper()
		val, version, err := src.Loader.Load(ctx, key)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return nil, false, version
		case err != nil:
			t.Fatalf("Load(%q): %v", key, err)
		}
		return val, true, version
	}
	write := func(t *testing.T, src Source, key, value string) uint64 {
		t.Helper()
		v, err := src.Write(key, []byte(value))
		if err != nil {
			t.Fatalf("Write(%q, %q): %v", key, value, err)
		}
		return v
	}
	del := func(t *testing.T, src Source, key string) uint64 {
		t.Helper()
		v, err := src.Delete(key)
		if err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
		return v
	}
	// wantValue checks that key loads value with a version of at least
	// written, and returns that version.
	wantValue := func(t *testing.T, src Source, key, value string, written uint64) uint64 {
		t.Helper()
		got, found, v := load(t, src, key)
		want := loaded(src, key, value)
		if !found || string(got) != want {
			t.Fatalf("Load(%q) = %q, found %v; want %q", key, got, found, want)
		}
		if v < written {
			t.Fatalf("Load(%q) = version %d; want at least the write's %d", key, v, written)
		}
		return v
	}
	// wantNotFound checks that key loads "not found" with a version of at
	// least deleted, and returns that version.
	wantNotFound := func(t *testing.T, src Source, key string, deleted uint64) uint64 {
		t.Helper()
		got, found, v := load(t, src, key)
		if found {
			t.Fatalf("Load(%q) = %q; want an error that is core.ErrNotFound", key, got)
		}
		if v < deleted {
			t.Fatalf("Load(%q) = not found at version %d; want at least the delete's %d", key, v, deleted)
		}
		return v
	}
	wantAbove := func(t *testing.T, what string, got, prev uint64) {
		t.Helper()
		if got <= prev {
			t.Fatalf("%s: version %d; want more than %d", what, got, prev)
		}
	}

	t.Run("LoadsWhatWasWritten", func(t *testing.T) {
		src := newSource(t)
		v := write(t, src, "ana", "ana-1")
		wantAbove(t, "first write", v, 0)
		loadedAt := wantValue(t, src, "ana", "ana-1", v)
		// Every write that the load did not see gets a greater version.
		v = write(t, src, "ana", "ana-2")
		wantAbove(t, "write after a load", v, loadedAt)
		wantValue(t, src, "ana", "ana-2", v)
	})

	t.Run("VersionsIncreasePerKey", func(t *testing.T) {
		src := newSource(t)
		last := map[string]uint64{}
		for i, key := range []string{"ana", "bo", "ana", "cy", "bo", "ana"} {
			v := write(t, src, key, fmt.Sprintf("%s-%d", key, i))
			wantAbove(t, fmt.Sprintf("write %d, of %q", i, key), v, last[key])
			last[key] = v
		}
		v := del(t, src, "bo")
		wantAbove(t, "delete of bo", v, last["bo"])
		last["bo"] = v
		v = write(t, src, "bo", "bo-again")
		wantAbove(t, "write of bo after its delete", v, last["bo"])
		wantValue(t, src, "ana", "ana-5", 0)
		wantValue(t, src, "bo", "bo-again", v)
		wantValue(t, src, "cy", "cy-3", 0)
	})

	t.Run("DeleteLoadsNotFound", func(t *testing.T) {
		src := newSource(t)
		written := write(t, src, "ana", "ana-1")
		deleted := del(t, src, "ana")
		wantAbove(t, "delete", deleted, written)
		missAt := wantNotFound(t, src, "ana", deleted)
		again := write(t, src, "ana", "ana-2")
		wantAbove(t, "write after a not-found load", again, missAt)
		wantValue(t, src, "ana", "ana-2", again)
	})

	t.Run("NeverWrittenLoadsNotFound", func(t *testing.T) {
		src := newSource(t)
		missAt := wantNotFound(t, src, "nobody", 0)
		v := write(t, src, "nobody", "nobody-1")
		wantAbove(t, "first write after a not-found load", v, missAt)
		// Writes of other keys do not make a miss older than them.
		other := write(t, src, "other", "other-1")
		missAt = wantNotFound(t, src, "never", 0)
		v = write(t, src, "never", "never-1")
		wantAbove(t, "write after a not-found load", v, max(missAt, other))
	})

	// Loads race writes of the same key. The version that a load returns
	// places it among the key's writes: what it loaded must be what the key
	// held after the last write at or below that version, and a load that
	// began after a write returned must see that write or a later one.
	t.Run("ConcurrentLoadsAndWrites", func(t *testing.T) {
		src := newSource(t)
		const keys, rounds = 4, 600
		type result struct {
			after   int // the last write that returned before the load began
			found   bool
			value   string
			version uint64
		}
		var wg sync.WaitGroup
		for k := range keys {
			wg.Go(func() {
				key := fmt.Sprintf("key%d", k)
				var (
					versions []uint64 // of the writes, in order
					held     []string // what each write left: a loaded value, or "" for none
					results  []result
				)
				for i := range rounds {
					var r result
					var err error
					var loads sync.WaitGroup
					r.after = i - 1
					loads.Go(func() {
						var val []byte
						val, r.version, err = src.Loader.Load(ctx, key)
						r.found, r.value = err == nil, string(val)
						if errors.Is(err, core.ErrNotFound) {
							err = nil
						}
					})
					var v uint64
					var werr error
					if i%5 == 4 {
						v, werr = src.Delete(key)
						held = append(held, "")
					} else {
						value := fmt.Sprintf("%s-%d", key, i)
						v, werr = src.Write(key, []byte(value))
						held = append(held, loaded(src, key, value))
					}
					versions = append(versions, v)
					loads.Wait()
					if werr != nil || err != nil {
						t.Errorf("round %d of %q: write: %v; load: %v", i, key, werr, err)
						return
					}
					if i > 0 && v <= versions[i-1] {
						t.Errorf("write %d of %q: version %d; want more than the one before, %d", i, key, v, versions[i-1])
						return
					}
					results = append(results, r)
				}
				for i, r := range results {
					// seen is the last write at or below the load's version.
					seen := sort.Search(len(versions), func(j int) bool { return versions[j] > r.version }) - 1
					want := ""
					if seen >= 0 {
						want = held[seen]
					}
					got := ""
					if r.found {
						got = r.value
					}
					if got != want || r.found != (want != "") {
						t.Errorf("load %d of %q: %s at version %d, yet the write at or below it (%s) left %s; versions of the writes around it: %s",
							i, key, describe(r.found, r.value), r.version, name(seen), describe(want != "", want), around(versions, seen))
						return
					}
					if seen < r.after {
						t.Errorf("load %d of %q began after write %d returned, yet its version %d places it at %s; versions of the writes around it: %s",
							i, key, r.after, r.version, name(seen), around(versions, r.after))
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// loaded is what src's Load answers for key after Write(key, value).
func loaded(src Source, key, value string) string {
	if src.Loaded == nil {
		return value
	}
	return string(src.Loaded(key, []byte(value)))
}

func describe(found bool, value string) string {
	if !found {
		return "not found"
	}
	return fmt.Sprintf("%q", value)
}

func name(write int) string {
	if write < 0 {
		return "the start, before the first write"
	}
	return fmt.Sprintf("write %d", write)
}

// around shows the versions of the writes next to write i.
func around(versions []uint64, i int) string {
	var b strings.Builder
	for j := max(i-2, 0); j < min(i+3, len(versions)); j++ {
		fmt.Fprintf(&b, "write %d: %d; ", j, versions[j])
	}
	return strings.TrimSuffix(b.String(), "; ")
}
