// Package core is the read-through two-tier cache in front of a user store.
//
// A read goes L1 → L2 → Store:
//
//   - L1 is a Tier private to this process (ristretto). It holds the rendered
//     JSON of each user, so that an L1 hit allocates nothing.
//   - L2 is a Shared tier (Redis). Every instance reads through it, and Redis
//     tells each instance which keys changed (client tracking). The L2 backend
//     feeds those invalidations to Local.Invalidate.
//   - The Store is the source of truth. Misses on one key are coalesced into
//     one load per process (singleflight), run detached from the callers'
//     cancellation under its own deadline.
//
// A store "not found" is kept in L1 as a negative entry with its own short
// TTL, so that a burst of lookups of an unknown name costs one store load per
// instance. It is never written to L2: a flood of unknown names must not
// fill the shared tier.
//
// # Coherence
//
// An L1 entry may only exist for a key whose changes the Shared tier will
// report to this process. Shared promises that for a key from the moment it
// is read through it (a miss included) until at least its next change; our
// own L2 write of a key counts as a change. Hence the rules:
//
//   - L1 is filled only from an L2 read, or with a "not found" from the store
//     after L2 missed (no L2 write follows it), never from a store load that
//     is written to L2 or from this process's own write while L2 is up.
//   - A fill that began before an invalidation of its key, or before a
//     connection loss (Invalidate(nil)), is discarded: see Local.
//   - Writes go to the store first, then to L2. The L2 backend returns from a
//     write only after this process has processed the invalidation that the
//     write caused, so the next read of this process cannot be served an
//     older value by L2 (read-your-writes).
//   - Every L2 write carries the version that the store gave the write, and
//     L2 keeps the newest (Shared.SetVersion). Two writers that commit in
//     one order and reach Redis in the other, a retry, or a fill that loaded
//     before a write therefore never leave an older value in L2.
//   - A version that L2 refuses a write for is checked against the store;
//     one that no write of the store gave (set by hand, or left by a store
//     that was recreated or restored) is replaced (Shared.Replace), so an
//     acknowledged write always reaches L2.
//   - A key whose write L2 did not take is queued (up to Config.MaxQueued
//     keys) and republished from the store until L2 takes it; meanwhile this
//     process reads that key from the store.
//   - L2 may lose writes it acknowledged (a master that fails before its
//     replica received them). A Shared tier that is a LossReporter says
//     when that may have happened, and the keys this process wrote within
//     Config.LossWindow are queued and republished the same way.
//
// What L2 returns is checked before it is served or kept: a value that is
// not byte for byte the rendering of a user of that name, at most
// MaxBodyBytes, is a miss, counted in Stats.L2Rejected, logged, and replaced
// from the store. A tombstone (a delete's) answers no read either: it only
// keeps older writes out of L2, and "not found" comes from the store.
//
// When L2 is down, or refuses its calls (its breaker is open), the Cache
// serves from L1 and the store; L1 entries filled then live for
// Config.DegradedTTL only, since nothing invalidates them, and the L2
// backend calls Invalidate(nil) when it recovers. A Shared tier that is a
// RefusalCounter reports its refusals in Stats.L2Refused.
//
// # Lifetimes
//
// Byte slices returned by Cache.Get are owned by the cache and must not be
// modified; they stay valid as long as the caller holds them. Names passed in
// may be backed by short-lived buffers: the Cache copies a name before keeping
// it.
package core
