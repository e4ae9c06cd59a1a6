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
// A store "not found" is cached as a negative entry with its own short TTL,
// so that a burst of lookups of an unknown name costs one store load.
//
// # Coherence
//
// An L1 entry may only exist for a key that Redis is tracking for this
// process, because an untracked key gets no invalidation when another instance
// writes it. With OPTIN tracking a key is tracked from the moment it is read
// through L2 until the first invalidation for it. Hence the rules:
//
//   - L1 is filled only from an L2 read, never from a store load or from this
//     process's own write while L2 is up (each of those is followed by this
//     process's own invalidation, which ends the tracking).
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
//   - A key whose write L2 did not take is queued (up to Config.MaxQueued
//     keys) and republished from the store until L2 takes it; meanwhile this
//     process reads that key from the store.
//
// When L2 is down the Cache serves from L1 and the store; L1 entries filled
// then live for Config.DegradedTTL only, since nothing invalidates them, and
// the L2 backend calls Invalidate(nil) when it recovers.
//
// # Lifetimes
//
// Byte slices returned by Cache.Get are owned by the cache and must not be
// modified; they stay valid as long as the caller holds them. Names passed in
// may be backed by short-lived buffers: the Cache copies a name before keeping
// it.
package core
