// Package core is a read-through two-tier cache, kept coherent across the
// instances that share its second tier, in front of any keyed source of
// truth. It knows keys, byte values and versions, nothing else.
//
// A read goes L1 → L2 → Loader:
//
//   - L1 is a Tier private to this process (ristretto or otter), behind the
//     fill guard of Local, so that an L1 hit allocates nothing.
//   - L2 is a Shared tier (Redis). Every instance reads through it, and it
//     tells each instance which keys changed; New subscribes L1 to that feed.
//   - The Loader is the source of truth (the store). Misses on one key are
//     coalesced into one load per process (singleflight), run detached from
//     the callers' cancellation under its own deadline.
//
// The application writes to its store itself, then tells the Cache with
// Publish (a new value) or PublishNotFound (a delete), passing the version
// that the store gave the write.
//
// A "not found" from the Loader is kept in L1 as a negative entry with its
// own short TTL, so that a burst of reads of an unknown key costs one load per
// instance. It is never written to L2: a flood of unknown keys must not fill
// the shared tier.
//
// # Coherence
//
// An L1 entry may only exist for a key whose changes the Shared tier will
// report to this process. Shared promises that for a key from the moment it
// is read through it (a miss included) until at least its next change; our
// own L2 write of a key counts as a change. Hence the rules:
//
//   - L1 is filled only from an L2 read, or with a "not found" from the
//     Loader after L2 missed (no L2 write follows it), never from a load that
//     is written to L2 or from this process's own write while L2 is up.
//   - A fill that began before an invalidation of its key, or before a
//     connection loss (Invalidate(nil)), is discarded: see Local.
//   - Writes go to the store first, then to L2 (Publish). The L2 tier returns
//     from a write only after this process has processed the invalidation
//     that the write caused, so the next read of this process cannot be
//     served an older value by L2 (read-your-writes).
//   - Every L2 write carries the version that the store gave the write, and
//     L2 keeps the newest (Shared.SetVersion). Two writers that commit in one
//     order and reach L2 in the other, a retry, or a fill that loaded before
//     a write therefore never leave an older value in L2. A delete leaves a
//     "not found" marker with its version, which answers no read.
//   - A version that L2 refuses a write for is checked against the Loader;
//     one that no write of the store gave (set by hand, or left by a store
//     that was recreated or restored) is replaced (Shared.Replace), so an
//     acknowledged write always reaches L2.
//   - A key whose write L2 did not take is queued (up to Config.MaxQueued
//     keys) and republished from the Loader until L2 takes it; meanwhile
//     this process reads that key from the Loader.
//   - L2 may lose writes it acknowledged (a master that fails before its
//     replica received them). A Shared tier that is a LossReporter says when
//     that may have happened, and the keys this process wrote within
//     Config.LossWindow are queued and republished the same way.
//
// What L2 returns is checked before it is served or kept: a value that the
// tier reports as not its own (ErrBadValue), or that Config.Validate refuses,
// is a miss, counted in Stats.L2Rejected, logged, and replaced from the
// Loader.
//
// When L2 is down, or refuses its calls (its breaker is open), the Cache
// serves from L1 and the Loader; L1 entries filled then live for
// Config.DegradedTTL only, since nothing invalidates them, and the L2 tier
// invalidates everything when it recovers. A Shared tier that is a
// RefusalCounter reports its refusals in Stats.L2Refused.
//
// The rules, their proofs and the contracts of each interface are in
// docs/design.md; package coretest holds the suites that every Tier, Shared
// and Loader implementation runs.
//
// # Lifetimes
//
// Byte slices returned by Cache.Get are owned by the cache and must not be
// modified; they stay valid as long as the caller holds them. Keys passed in
// may be backed by short-lived buffers: the Cache copies a key before keeping
// it. Values passed to Publish are copied by the tiers that keep them.
package core
