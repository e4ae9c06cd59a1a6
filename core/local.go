package core

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// genStripes is the number of generation counters. Keys share counters by
// hash; a shared counter only makes a fill be discarded needlessly, never
// kept wrongly, and keeps the guard's memory fixed.
const genStripes = 4096

// Entry kinds, the first byte of an L1 value.
const (
	kindUser     = 'u'
	kindNotFound = 'n'
	headerLen    = 1 + 8 // kind, epoch
)

// Local is the process-private tier (L1) with the fill guard that keeps it
// coherent with the invalidation feed. It implements Invalidator.
//
// ristretto has no versions, so a fill that read L2 before an invalidation
// and stores after it would keep the old value forever. The guard:
//
//   - Every entry carries the epoch it was filled in; Invalidate(nil) bumps
//     the epoch, so every older entry reads as a miss at once (O(1), no Clear).
//   - Invalidate(keys) bumps each key's generation, then deletes the entry.
//   - A fill takes a Ticket (epoch, generation) before it reads L2, and stores
//     only if both are unchanged; after storing it looks again and deletes
//     its own entry if either changed meanwhile.
//
// The interleavings, for fill F and invalidation I of one key:
//
//	I bumps before F's first check    → F does not store.
//	I bumps between F's check and F's recheck → F's recheck sees it and
//	                                     deletes after its own Set.
//	I bumps after F's recheck         → I's delete comes after F's Set.
//
// In every case the old value is gone once both have returned. The tier must
// order a Del after an earlier Set of the same key (ristretto does).
//
// A nil tier disables L1: Get always misses and Fill does nothing.
type Local struct {
	tier  Tier
	seed  maphash.Seed
	epoch atomic.Uint64
	gens  [genStripes]atomic.Uint64
}

// NewLocal returns a Local over tier; tier may be nil to disable L1.
func NewLocal(tier Tier) *Local {
	return &Local{tier: tier, seed: maphash.MakeSeed()}
}

// Enabled reports whether L1 stores anything.
func (l *Local) Enabled() bool { return l.tier != nil }

var background = context.Background()

// Get returns the rendered user (found) or a negative entry (found=false)
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
	return v[headerLen:], v[0] == kindUser, true
}

// Ticket is the guard state taken before a fill reads its value.
type Ticket struct {
	epoch, gen uint64
}

// Begin returns the ticket for a fill of key; take it before reading the
// value that will be stored.
func (l *Local) Begin(key string) Ticket {
	return Ticket{epoch: l.epoch.Load(), gen: l.gen(key).Load()}
}

func (l *Local) gen(key string) *atomic.Uint64 {
	return &l.gens[maphash.String(l.seed, key)%genStripes]
}

func (l *Local) valid(key string, t Ticket) bool {
	return l.epoch.Load() == t.epoch && l.gen(key).Load() == t.gen
}

// Fill stores body (found) or a negative entry (found=false) under key for
// ttl, unless key was invalidated since t was taken. It reports whether the
// entry was stored and still valid when Fill returned.
func (l *Local) Fill(key string, t Ticket, body []byte, found bool, ttl time.Duration) bool {
	if l.tier == nil || !l.valid(key, t) {
		return false
	}
	v := make([]byte, headerLen, headerLen+len(body))
	v[0] = kindNotFound
	if found {
		v[0] = kindUser
	}
	binary.LittleEndian.PutUint64(v[1:], t.epoch)
	v = append(v, body...)
	if err := l.tier.Set(background, key, v, ttl); err != nil {
		return false
	}
	if !l.valid(key, t) {
		_ = l.tier.Del(background, key) // see the interleavings on Local
		return false
	}
	return true
}

// Invalidate drops keys from L1 and makes fills that began before it be
// discarded. keys == nil drops everything. It is safe to call from the
// Shared tier's connection reader: it never blocks on I/O.
func (l *Local) Invalidate(keys []string) {
	if keys == nil {
		l.epoch.Add(1)
		return
	}
	for _, k := range keys {
		l.gen(k).Add(1)
		if l.tier != nil {
			_ = l.tier.Del(background, k)
		}
	}
}
