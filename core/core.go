package core

import (
	"context"
	"errors"
	"time"
)

// Errors that callers branch on.
var (
	// ErrNotFound means the source of truth holds no value for the key.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable means a backend could not be reached in time. For a
	// Shared tier it is returned while its circuit breaker is open.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrBadValue means a Shared tier holds, under the key asked for,
	// something it did not write (another type, another format, more bytes
	// than it reads). The Cache treats it as a value to reject: it answers
	// from the Loader and replaces it.
	ErrBadValue = errors.New("value not written by this tier")
)

// Loader is the source of truth that the Cache reads through. Load honours
// ctx's deadline and is safe for concurrent use.
//
// Load returns the key's value and its version. Versions order the writes
// of each key: every write that the application makes gets a version
// greater than any the source gave that key before (a key that is deleted
// and written again keeps counting up). A counter for the whole source, or
// one per key, does. Versions start at 1; 0 means "no write".
//
// For a key with no value, Load returns ErrNotFound (or an error that wraps
// it) together with a version that orders the miss among the key's writes:
// every write of the key that Load saw has a version ≤ it, and every write
// that Load did not see gets a greater one. A delete leaves no record to
// carry its version, and the caches must still order a "not found" after
// it and before a write that follows. The source's latest committed
// version does it when a read sees every committed write.
//
// The Cache keeps value: Load must not modify it afterwards.
//
// Any other error is the source's failure; the Cache returns it to the
// reader and keeps nothing.
type Loader interface {
	Load(ctx context.Context, key string) (value []byte, version uint64, err error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, key string) (value []byte, version uint64, err error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	return f(ctx, key)
}

// Pinger is implemented by a Loader that can tell whether it serves;
// Cache.Ready calls it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Tier is one level of cache holding byte values under string keys.
//
// A miss is ok=false with a nil error. Get's result is owned by the tier and
// must not be modified. Set and Del return once later Gets of this process
// cannot see the previous value: Get then returns the new value or a miss,
// never an older value. Implementations are safe for concurrent use.
type Tier interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores a copy of val under key for ttl (> 0), replacing any value.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Del(ctx context.Context, key string) error
}

// Entry is the state of a key at a version: a value, or "not found".
type Entry struct {
	Value   []byte // ignored unless Found
	Version uint64
	Found   bool
}

// Shared is the tier that all instances share (L2). Besides Tier's rules:
//
//   - It reports every change of a key that this process read through it to
//     its Invalidator, from the read until at least the first change (a miss
//     read through it counts: a "not found" kept in L1 hears of the write
//     that ends it). Reporting more keys, or for longer, is allowed.
//   - Its writes return only after this process has processed the
//     invalidation that the write caused.
//   - An Entry that is not Found is kept as a marker that holds its version
//     and that Get reports as a miss.
//
// A Shared tier serves one Cache: New subscribes the Cache's L1 to it.
type Shared interface {
	Tier
	// SetVersion stores e under key for ttl unless key holds an entry
	// stored with a higher version, or the same version and the same
	// entry, atomically. It reports whether it stored and, when it did not,
	// the version that key holds. A value stored by Tier.Set has version
	// 0. Writes that reach L2 out of order (two writers, a delayed retry, a
	// fill that loaded before a write) thus leave the newest entry in
	// place. One version with two entries cannot come from one source, so
	// the newcomer wins: the held entry came from another source that used
	// the same keys, or from a hand.
	SetVersion(ctx context.Context, key string, e Entry, ttl time.Duration) (stored bool, held uint64, err error)
	// Replace stores e under key for ttl if key holds an entry of version
	// held, atomically, and reports whether it stored. It repairs an entry
	// whose version no write of the source gave: one set by hand, or left
	// by a source that was recreated or restored from a backup.
	Replace(ctx context.Context, key string, e Entry, held uint64, ttl time.Duration) (bool, error)
	// Subscribe makes inv the receiver of the invalidation feed, replacing
	// the one before; changes before the first Subscribe go unreported.
	Subscribe(inv Invalidator)
	// Status is "ok" while the tier serves and "degraded" while it is
	// unreachable (its breaker is open).
	Status() string
}

// RefusalCounter is implemented by a Shared tier that tells refusals apart
// from other failures: calls that its backend answered but would not do (no
// permission, a read-only replica, a cluster that does not serve the key).
// Refused returns how many there were since the tier started; Cache.Stats
// reports it as L2Refused.
type RefusalCounter interface {
	Refused() uint64
}

// LossReporter is implemented by a Shared tier that can lose writes it
// acknowledged, such as a replica promoted before it received them. New
// registers with OnLoss the function that the tier calls whenever writes
// it acknowledged within the last Config.LossWindow may be gone: the Cache
// then republishes the keys it wrote in that window from the Loader, with
// their versions, through the queue of failed writes. f does not block
// and calls nothing of the tier, so the tier may call it from anywhere,
// its connection readers included, and as often as it likes.
type LossReporter interface {
	OnLoss(f func())
}

// Invalidator receives the invalidation feed of a Shared tier. Invalidate
// must not block and must not call back into the tier; keys == nil means
// every key (FLUSHALL, lost connection, recovery).
type Invalidator interface {
	Invalidate(keys []string)
}

// InvalidatorFunc adapts a function to Invalidator.
type InvalidatorFunc func(keys []string)

// Invalidate calls f.
func (f InvalidatorFunc) Invalidate(keys []string) { f(keys) }
