package core

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// stripes is the number of generation counters. Keys share counters by
// hash; a shared counter only makes a fill be discarded needlessly, never
// kept wrongly, and keeps the guard's memory fixed.
const stripes = 4096

// Entry kinds, the first byte of an L1 value.
const (
	kindValue    = 'v'
	kindNotFound = 'n'
	headerLen    = 1 + 8 // kind, epoch
)

// Local is the process-private tier (L1) with the fill guard that keeps it
// coherent with the invalidation feed. It implements Invalidator.
//
// ristretto has no versions, so a fill that read L2 before an invalidation
// and stored after it would keep the old value forever. The guard:
//
//   - A fill takes a Ticket (epoch, generation of the key's stripe) before it
//     reads the value it will store.
//   - Invalidate(keys), under the key's stripe lock, bumps the generation and
//     deletes the entry. Fill, under the same lock, stores only if the
//     generation is still the ticket's. So a fill and an invalidation of one
//     key are serialized: either the fill stored first and the invalidation
//     deletes it, or the invalidation came first and the fill is refused.
//     There is no moment at which the old value is readable after an
//     invalidation has returned. (A lock-free check, Set, re-check and Del
//     leaves such a moment: the stale value is readable between the Set
//     and the corrective Del; the read-your-writes test caught it.)
//   - Invalidate(nil) bumps the epoch; every entry carries the epoch it was
//     filled in, and Get treats an older one as a miss. That drops all of
//     L1 in O(1), without ristretto's slow, non-atomic Clear.
//
// The tier's Set must be visible when it returns (the ristretto tier waits
// for it), or a Del under the lock could run before the Set is applied.
//
// A nil tier disables L1: Get always misses and Fill does nothing.
type Local struct {
	tier    Tier
	seed    maphash.Seed
	epoch   atomic.Uint64
	stripes [stripes]stripe
}

type stripe struct {
	mu  sync.Mutex // serializes Fill and Invalidate of the stripe's keys
	gen atomic.Uint64
}

// NewLocal returns a Local over tier; tier may be nil to disable L1.
func NewLocal(tier Tier) *Local {
	return &Local{tier: tier, seed: maphash.MakeSeed()}
}

var background = context.Background()

// Get returns the value (found) or a negative entry (found=false)
// stored under key. ok is false on a miss, including an entry from an older
// epoch. It does not allocate.
func (l *Local) Get(key string) (body []byte, found, ok bool) {
	if l.tier == nil {
		return nil, false, false
	}
	v, ok, err := l.tier.Get(background, key)
	if !ok || err != nil || len(v) < headerLen {
		return nil, false, false
	}
	if binary.LittleEndian.Uint64(v[1:headerLen]) != l.epoch.Load() {
		return nil, false, false
	}
	return v[headerLen:], v[0] == kindValue, true
}

// Ticket is the guard state taken before a fill reads its value.
type Ticket struct {
	epoch, gen uint64
}

// Begin returns the ticket for a fill of key; take it before reading the
// value that will be stored.
func (l *Local) Begin(key string) Ticket {
	return Ticket{epoch: l.epoch.Load(), gen: l.stripe(key).gen.Load()}
}

// Valid reports whether nothing invalidated key, or everything, since t was
// taken.
func (l *Local) Valid(key string, t Ticket) bool {
	return l.validIn(l.stripe(key), t)
}

// validIn is Valid for key's stripe s, already looked up.
func (l *Local) validIn(s *stripe, t Ticket) bool {
	return s.gen.Load() == t.gen && l.epoch.Load() == t.epoch
}

func (l *Local) stripe(key string) *stripe {
	return &l.stripes[maphash.String(l.seed, key)%stripes]
}

// Fill stores val (found) or a negative entry (found=false) under key for
// ttl, unless key was invalidated since t was taken. It reports whether it
// stored the entry.
func (l *Local) Fill(key string, t Ticket, val []byte, found bool, ttl time.Duration) bool {
	if l.tier == nil {
		return false
	}
	v := make([]byte, headerLen, headerLen+len(val))
	v[0] = kindNotFound
	if found {
		v[0] = kindValue
	}
	binary.LittleEndian.PutUint64(v[1:], t.epoch)
	v = append(v, val...)

	s := l.stripe(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	// An epoch bump needs no lock: an entry stored with an old epoch is
	// already a miss.
	if !l.validIn(s, t) {
		return false
	}
	return l.tier.Set(background, key, v, ttl) == nil
}

// Invalidate drops keys from L1 and makes fills that began before it be
// refused. keys == nil drops everything. It never waits on I/O, only on a
// concurrent Fill of a key in the same stripe, so the Shared tier may call
// it from its connection reader.
func (l *Local) Invalidate(keys []string) {
	if keys == nil {
		l.epoch.Add(1)
		return
	}
	for _, k := range keys {
		s := l.stripe(k)
		s.mu.Lock()
		s.gen.Add(1)
		if l.tier != nil {
			_ = l.tier.Del(background, k)
		}
		s.mu.Unlock()
	}
}
