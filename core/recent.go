package core

import (
	"sync"
	"time"
)

// recent remembers the keys this process wrote in the last window, at
// most max of them, so that they can be republished when the Shared tier
// reports that writes it acknowledged may be lost (LossReporter). Only the
// keys are kept: a republish writes what the store holds, with its
// version, so it can neither replay an old value nor bring back a deleted
// value.
//
// Keys live in a map (key → number of its last write) and, in write
// order, in a queue that pruning pops from the front; a queue entry whose
// number is not the map's is a key written again since, and is skipped. The queue is
// compacted when stale entries fill most of it, so a hot key written a
// million times costs one map entry and a bounded queue.
type recent struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	last    map[string]uint64 // key → seq of its last write
	seq     uint64
	queue   []written
	head    int  // queue[:head] are popped
	dropped bool // a key was dropped for max since the last keys()
}

type written struct {
	key string
	seq uint64
	at  time.Time
}

func newRecent(window time.Duration, max int, now func() time.Time) *recent {
	return &recent{window: window, max: max, now: now, last: make(map[string]uint64)}
}

// add records a write of key now.
func (r *recent) add(key string) {
	if r.window <= 0 || r.max <= 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	if _, ok := r.last[key]; !ok {
		for len(r.last) >= r.max {
			r.pop()
			r.dropped = true
		}
	}
	r.seq++
	r.last[key] = r.seq
	r.queue = append(r.queue, written{key, r.seq, now})
	if stale := len(r.queue) - r.head - len(r.last); stale > len(r.last) && stale > 64 {
		r.compact()
	}
}

// addIfAbsent records a write of key now unless key was written within
// the window: a republish of a key that is still remembered must not push
// its time forward, or keys republished at every loss report would never
// leave.
func (r *recent) addIfAbsent(key string) {
	r.mu.Lock()
	_, ok := r.last[key]
	r.mu.Unlock()
	if !ok {
		r.add(key)
	}
}

// keys returns the keys written within the window, and whether some were
// dropped for max since the last call.
func (r *recent) keys() ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(r.now())
	keys := make([]string, 0, len(r.last))
	for k := range r.last {
		keys = append(keys, k)
	}
	dropped := r.dropped
	r.dropped = false
	return keys, dropped
}

// len is the number of keys remembered, expired ones included until the
// next add or keys.
func (r *recent) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.last)
}

// prune drops the keys last written before now-window.
func (r *recent) prune(now time.Time) {
	limit := now.Add(-r.window)
	for r.head < len(r.queue) && r.queue[r.head].at.Before(limit) {
		r.pop()
	}
}

// pop removes the oldest queue entry, and its key if that was its last
// write.
func (r *recent) pop() {
	e := r.queue[r.head]
	r.queue[r.head] = written{}
	r.head++
	if r.last[e.key] == e.seq {
		delete(r.last, e.key)
	}
	if r.head == len(r.queue) {
		r.queue, r.head = r.queue[:0], 0
	}
}

// compact drops the stale queue entries, keeping the order.
func (r *recent) compact() {
	live := r.queue[:0]
	for _, e := range r.queue[r.head:] {
		if r.last[e.key] == e.seq {
			live = append(live, e)
		}
	}
	clear(r.queue[len(live):])
	r.queue, r.head = live, 0
}
