package core

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a fake time for recent.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sortedKeys(r *recent) []string {
	keys, _ := r.keys()
	slices.Sort(keys)
	return keys
}

// recent keeps each key once, for the window after its last write.
func TestRecentWindow(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	r := newRecent(10*time.Second, 100, clk.now)
	r.add("a")
	clk.advance(4 * time.Second)
	r.add("b")
	r.add("b")
	clk.advance(4 * time.Second)
	r.add("a") // written again: its window starts again
	if got, want := sortedKeys(r), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v; want %v", got, want)
	}
	clk.advance(6500 * time.Millisecond) // b's last write is 10.5s old, a's 6.5s
	if got, want := sortedKeys(r), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("keys after b's window = %v; want %v", got, want)
	}
	clk.advance(8 * time.Second)
	if got := sortedKeys(r); len(got) != 0 {
		t.Fatalf("keys after every window = %v; want none", got)
	}
	if r.len() != 0 {
		t.Fatalf("len = %d after every window; want 0", r.len())
	}

	// addIfAbsent does not push a remembered key's time forward.
	r.add("c")
	clk.advance(6 * time.Second)
	r.addIfAbsent("c")
	r.addIfAbsent("d")
	clk.advance(6 * time.Second)
	if got, want := sortedKeys(r), []string{"d"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v; want %v (c republished, not written again)", got, want)
	}

	// A zero window keeps nothing.
	off := newRecent(0, 100, clk.now)
	off.add("a")
	if off.len() != 0 {
		t.Fatal("a zero window kept a key")
	}
}

// recent keeps at most max keys, dropping the oldest, and says so once.
func TestRecentIsBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	r := newRecent(time.Minute, 3, clk.now)
	for _, k := range []string{"a", "b", "c", "a", "d"} { // a written again: b is now the oldest
		clk.advance(time.Millisecond)
		r.add(k)
	}
	keys, dropped := r.keys()
	slices.Sort(keys)
	if want := []string{"a", "c", "d"}; !slices.Equal(keys, want) || !dropped {
		t.Fatalf("keys = %v, dropped %v; want %v, dropped", keys, dropped, want)
	}
	if _, dropped := r.keys(); dropped {
		t.Fatal("a second keys() reports the drop again")
	}

	// A hot key written many times costs one entry and a bounded queue.
	for range 10_000 {
		r.add("hot")
	}
	r.mu.Lock()
	n := len(r.queue) - r.head
	r.mu.Unlock()
	if r.len() != 3 || n > 200 {
		t.Fatalf("after 10,000 writes of one key: %d keys, %d queue entries; want 3 keys and at most 200 entries", r.len(), n)
	}
}

// lossShared is a flakyShared that is a LossReporter.
type lossShared struct {
	*flakyShared
	report func()
	wmu    sync.Mutex
	writes map[string]int // SetVersion calls per key
}

func (l *lossShared) OnLoss(f func()) { l.report = f }

func (l *lossShared) SetVersion(ctx context.Context, key string, e Entry, ttl time.Duration) (bool, uint64, error) {
	l.wmu.Lock()
	l.writes[key]++
	l.wmu.Unlock()
	return l.flakyShared.SetVersion(ctx, key, e, ttl)
}

func (l *lossShared) writesOf(key string) int {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.writes[key]
}

// On a loss report, the keys written within LossWindow are republished
// from the store, older ones are not, and a key deleted since its last
// write stays deleted: the republish writes the store's state.
func TestLossReportRepublishesRecentWrites(t *testing.T) {
	ctx := context.Background()
	l2 := &lossShared{flakyShared: newFlakyShared(), writes: map[string]int{}}
	src := newSource("old", "0", "new", "0", "gone", "0")
	c, _ := newCache(t, Config{Loader: src, L2: l2, RetryInterval: time.Millisecond, LossWindow: 10 * time.Second})
	if l2.report == nil {
		t.Fatal("New did not register with the LossReporter")
	}
	clk := &clock{t: time.Unix(1000, 0)}
	c.recent.now = clk.now

	for _, k := range []string{"old", "new", "gone"} {
		c.Publish(ctx, k, []byte("1"), src.write(k, "1"))
		if k == "old" {
			clk.advance(11 * time.Second) // old's write leaves the window
		}
	}
	c.PublishNotFound(ctx, "gone", src.del("gone"))
	// L2 loses everything, as a promoted replica that received nothing.
	l2.mu.Lock()
	clear(l2.m)
	l2.mu.Unlock()
	before := map[string]int{}
	for _, k := range []string{"old", "new", "gone"} {
		before[k] = l2.writesOf(k)
	}

	l2.report()
	waitUntil(t, "the recent writes to be republished", func() bool {
		return l2.writesOf("new") > before["new"] && l2.writesOf("gone") > before["gone"] && c.Stats().Queued == 0
	})
	if got := l2.writesOf("old"); got != before["old"] {
		t.Errorf("old, written before the window, was republished %d times; want 0", got-before["old"])
	}
	if e, _ := l2.entry("new"); string(e.Value) != "1" {
		t.Errorf("L2 holds %q for new; want its last write", e.Value)
	}
	if e, ok := l2.entry("gone"); !ok || e.Found {
		t.Errorf("L2 holds %+v for gone; want the delete's not-found entry", e)
	}

	// A republish does not keep a key in the window: once the window
	// passes, a report republishes nothing.
	clk.advance(11 * time.Second)
	n := l2.writesOf("new")
	l2.report()
	time.Sleep(50 * time.Millisecond) // many passes of the queue
	if got := l2.writesOf("new"); got != n {
		t.Errorf("a report after the window republished new %d times; want 0", got-n)
	}
}

// waitUntil polls cond until it holds; it fails the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
