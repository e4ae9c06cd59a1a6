package memory

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/core"
)

// Storage is the data that every handle shares. Its zero value is not
// usable; call New.
type Storage struct {
	mu      sync.Mutex
	entries map[string]entry
	tiers   []*Tier
}

type entry struct {
	core.Entry
	expires time.Time
}

// New returns an empty Storage.
func New() *Storage {
	return &Storage{entries: make(map[string]entry)}
}

// NewTier returns a new handle on s, for one instance.
func (s *Storage) NewTier() *Tier {
	t := &Tier{s: s}
	s.mu.Lock()
	s.tiers = append(s.tiers, t)
	s.mu.Unlock()
	return t
}

// Tier is one instance's handle on a Storage. It is safe for concurrent use.
type Tier struct {
	s   *Storage
	inv atomic.Pointer[core.Invalidator]
}

var _ core.Shared = (*Tier)(nil)

// live returns the entry under key unless it is absent or expired; the
// caller holds s.mu.
func (s *Storage) live(key string) (core.Entry, bool) {
	e, ok := s.entries[key]
	if ok && !time.Now().Before(e.expires) {
		delete(s.entries, key)
		return core.Entry{}, false
	}
	return e.Entry, ok
}

// update runs f under the lock; when f reports a change of key, it tells
// every handle's invalidator, after the lock is released.
func (s *Storage) update(key string, f func() bool) {
	s.mu.Lock()
	changed := f()
	tiers := s.tiers
	s.mu.Unlock()
	if !changed {
		return
	}
	for _, t := range tiers {
		if inv := t.inv.Load(); inv != nil {
			(*inv).Invalidate([]string{key})
		}
	}
}

// put stores a copy of e under key for ttl; the caller holds s.mu.
func (s *Storage) put(key string, e core.Entry, ttl time.Duration) {
	e.Value = append([]byte{}, e.Value...) // a hit is never a nil value
	if !e.Found {
		e.Value = nil
	}
	s.entries[key] = entry{e, time.Now().Add(ttl)}
}

// Get returns the value under key; a marker or an expired entry is a miss.
func (t *Tier) Get(_ context.Context, key string) ([]byte, bool, error) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	e, ok := t.s.live(key)
	return e.Value, ok && e.Found, nil
}

// Set stores val under key for ttl with version 0.
func (t *Tier) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	t.s.update(key, func() bool {
		t.s.put(key, core.Entry{Value: val, Found: true}, ttl)
		return true
	})
	return nil
}

// Del removes key.
func (t *Tier) Del(_ context.Context, key string) error {
	t.s.update(key, func() bool {
		_, ok := t.s.live(key)
		delete(t.s.entries, key)
		return ok
	})
	return nil
}

// SetVersion stores e unless key holds a higher version, or the same
// version and the same entry; then it returns the version held.
func (t *Tier) SetVersion(_ context.Context, key string, e core.Entry, ttl time.Duration) (stored bool, held uint64, err error) {
	t.s.update(key, func() bool {
		cur, ok := t.s.live(key)
		if ok && (cur.Version > e.Version || cur.Version == e.Version && same(cur, e)) {
			held = cur.Version
			return false
		}
		t.s.put(key, e, ttl)
		stored = true
		return true
	})
	return stored, held, nil
}

// same reports whether a and b, of one version, are the same entry.
func same(a, b core.Entry) bool {
	return a.Found == b.Found && (!a.Found || bytes.Equal(a.Value, b.Value))
}

// Replace stores e if key holds version held.
func (t *Tier) Replace(_ context.Context, key string, e core.Entry, held uint64, ttl time.Duration) (replaced bool, err error) {
	t.s.update(key, func() bool {
		if cur, ok := t.s.live(key); ok && cur.Version == held {
			t.s.put(key, e, ttl)
			replaced = true
		}
		return replaced
	})
	return replaced, nil
}

// Subscribe makes inv the receiver of this handle's feed.
func (t *Tier) Subscribe(inv core.Invalidator) { t.inv.Store(&inv) }

// Status is always "ok".
func (t *Tier) Status() string { return "ok" }
