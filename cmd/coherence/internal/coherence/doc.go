// Package coherence is the checker behind `make coherence`: it proves with
// real processes and real faults that several tiercache instances sharing
// one Redis and one PostgreSQL store serve no user staler than the
// configuration promises, and lose no acknowledged write.
//
// Run starts redis-server, PostgreSQL and the tiercache processes on
// loopback ports (Cluster), drives them with concurrent HTTP clients on a
// few hot usernames (Workload) while it injects faults on a schedule
// (Injector), records every operation (History), reads the final state
// from PostgreSQL and from every instance, stops every process by its pid,
// and checks the history (Checker). A run is saved (Recording) and can be
// checked again with other bounds (Replay).
//
// With Config.Redis RedisCluster the instances share a 6-node Redis
// Cluster (launch.StartCluster) given as one seed URL, the hot keys are
// spread over its three masters (SpreadKeys), and the schedule is
// ClusterSchedule: master kills, plain and with the replication held back,
// each ending with the promotion and followed by the node's return, plus
// the single-Redis faults that mean something on a cluster, on one master
// in turn. A Witness writes keys of their own just before each master kill
// and reads them all along, so that an acknowledged L2 write a failover
// loses is seen although the workload rewrites its hot keys constantly.
//
// With Config.Mode ModeProxy the instances are tiercache proxies on one
// Redis in front of one origin, a tiercache user service without caches
// (OriginArgs) that is never faulted and gives the final state; the
// workload, the faults (kill -9 hits a proxy) and the checks are the same.
// A proxy's write is acknowledged after it invalidated the request URI and
// its Location on every proxy, or queued that for the retry, as a user
// service's write is after it published its value, so the same bounds
// apply; the lost-writer bound is then the proxies' -default-ttl.
//
// # Definitions
//
// Times are the checker's monotonic clock. Every write carries a unique
// email, so each read maps to the one write whose value it returned; "not
// found" is the value of the initial absence or of a delete. A write is
// acknowledged when it is answered 2xx; a 409 registration and a 404 update
// or delete are not writes; a write without an answer, or answered 5xx, has
// an unknown outcome and may appear in later reads. A write takes effect by
// its acknowledgement; an unknown one by the latest time it still can
// (Checker.effective): a 5xx's answer plus a commit grace; without an
// answer, the kill -9 of its process plus that grace, or its client's
// give-up plus the server's store timeout plus that grace.
//
// W2 is definitely after W1 if W2 was invoked after W1 took effect. A read R
// missed W if W was acknowledged before R was invoked and W is definitely
// after the write whose value R returned (for "not found": after every
// delete that may have produced it). R is then stale by R's invocation
// minus the earliest acknowledgement among the writes it missed, and is
// classed by that acknowledgement, at t: by the fault kind with the largest
// bound among the faults whose window holds t, a window running from the
// steady bound before the fault's start to its end plus its kind's bound;
// else steady state. A write acknowledged well before a fault must thus
// reach the other instances within the steady bound, however late the read.
//
// A write may be lost with its writer (Checker.lostWriter), so that other
// instances may serve the value it replaced for the L2 TTL, in two cases
// only: it was acknowledged while a Redis fault failed L2 writes (its start
// to its end plus Drain) and its process was kill -9ed before its queue of
// failed L2 writes drained (max(acknowledgement, fault end) + Drain); or it
// was in flight, without an answer, when the kill -9 of its process began.
//
// # Checks
//
//   - Read-your-writes: no read missed a write acknowledged by the same
//     process (instance slot and generation: a kill -9 makes a new one).
//   - Staleness: each stale read must be within its class's bound
//     (Bounds). A read explained only by writes lost with their writer is
//     classed "lost-writer" with the L2 TTL as its bound: reported, not
//     hidden. A GET answered 200 with a body that is not the user asked
//     for is an impossible read, as is a read of a value nobody wrote.
//   - Lost writes: the store's final state is the value of a write (or of
//     the absence) that no acknowledged write is definitely after.
//   - Convergence: after the load, every instance answers the store's state.
//   - GETs: while Redis is down, no 5xx or missing answer and a bounded
//     p99; at any other time, no 5xx.
//   - Linearizability: each user's history goes through porcupine. A user
//     that is not linearizable is checked again with each read's invocation
//     moved earlier by the staleness the bounds allow it; if that history
//     is linearizable the violation is explained by documented bounds,
//     otherwise it is a bug, and so is a check porcupine could not decide
//     in time. Reads whose constraint other reads imply are left out first
//     (reduceReads), which keeps porcupine's search small.
//
// Nothing here is safe for concurrent use unless its doc says so; History
// is.
package coherence
