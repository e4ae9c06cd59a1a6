// Package redis is the shared L2 tier on Redis, through rueidis.
//
// Each connection turns on broadcast tracking of the key prefix (CLIENT
// TRACKING ON PREFIX p BCAST): when any client changes a key under the
// prefix, or it expires, Redis pushes an invalidation to every instance;
// the tier strips the prefix and hands the key to the subscribed
// core.Invalidator (the L1). A lost connection or FLUSHALL arrives as
// Invalidate(nil). Broadcast rather than per-key (OPTIN) tracking because
// OPTIN makes Redis remember every key each client read, misses included,
// about 100 bytes each: a flood of lookups of unknown names would grow
// Redis by 20 MB per 200,000 names.
//
// # Coherence
//
// Reads are a plain GETRANGE (Do), one command each, not rueidis'
// client-side caching (DoCache), which costs a read that misses its local
// copy a CLIENT CACHING, a MULTI, a PTTL and an EXEC around the read, and
// whose copy would duplicate L1. rueidis' cache stays enabled, empty,
// because rueidis turns tracking on and delivers the pushes only with it.
//
// core.Shared promises that the changes of a key read through the tier
// are reported from the read on. With BCAST, Redis reports every change
// under the prefix from the moment the connection turned tracking on,
// before its first command, whether this process read the key or not; so
// the promise holds without DoCache, and a lost connection, which ends
// it, arrives as Invalidate(nil). An invalidation that races a read's
// reply is core.Local's fill guard's: its ticket is taken before the L2
// read, so a push processed before the fill discards the fill, and one
// processed after it drops the entry.
//
// # Read-your-writes
//
// Redis queues a broadcast invalidation at the end of the event-loop pass
// that ran the write, after the replies of that pass, so the L1 of the
// writing process could still hold the old value when the write's reply
// arrives. Each write is therefore followed, once its reply is back, by
// a read of the same key on the same connection as a barrier: the
// barrier's reply comes after the invalidation push, and rueidis
// processes a connection's messages in order, so when a write
// (SetVersion, Replace, Set, Del) returns, this process has dropped the
// old value from L1, and its next Get reads Redis. This needs the write,
// the barrier and the pushes on one connection: the tier uses one
// connection per Redis node (PipelineMultiplex -1), through which rueidis
// pipelines every Do that is not a blocking command, and auto-pipelining
// keeps it busy enough for an L2.
//
// # Values
//
// A value is {"v":VERSION,"d":VAL}, and a "not found" entry {"v":VERSION},
// which Get reports as a miss. The SetVersion and Replace scripts read
// only the first 64 bytes of what a key holds to find its version, so a
// huge value set by hand costs them no copy; a value without that head is
// not one of ours and any write replaces it.
//
// # Redis Cluster
//
// One address in the URL may be a single Redis or any node of a cluster,
// master or replica: rueidis asks it CLUSTER SLOTS and falls back to a
// single-node client when that fails, and the tier then checks with INFO
// cluster that the node is not a cluster node whose user may not run
// CLUSTER SLOTS (a start-up error; see Tier.connect). Several addresses
// (?addr=) mean a cluster, and any one that answers is enough. The cluster client follows MOVED and ASK itself and keeps one
// connection per node, each tracking the prefix, so every master's
// invalidations reach the Invalidator and the write and its barrier share
// a connection. The tier has a breaker per group of slots (see Failures),
// so a node that fails takes L2 away from its own slots only; a lost
// connection to any node still arrives as Invalidate(nil). With Redis'
// default cluster-require-full-coverage yes, though, every node refuses
// every key (CLUSTERDOWN) from when a master is marked failed until its
// replica is promoted, which opens the groups used meanwhile.
//
// # Failover
//
// Redis replicates asynchronously: a master may acknowledge a write and
// fail before its replica received it, and the promoted replica then
// serves the older value, for the whole TTL, to every instance. The tier
// is a core.LossReporter: it reports a possible loss when a connection is
// lost (a node killed, stalled, or a FLUSHALL), when a breaker opens,
// and when breakers close again, and the Cache republishes from the store the
// keys it wrote within core.Config.LossWindow. The republish of a key on
// the failed master keeps failing until the promotion and rueidis' next
// look at the slots, then lands on the new master. Only the writer
// republishes: if it dies with the master, its last writes stay lost
// until their TTL.
//
// WAIT after each write (rockscache's choice) was weighed and not taken:
// it costs each write a round trip and, while the replica is down or
// stalled, its whole timeout, and a write that WAIT could not confirm
// still needs the republish above.
//
// # Failures
//
// Every call runs under a deadline (Config.Timeout, which calls that start
// together may share: see Tier.timeout); rueidis retries are off. Breakers
// cover groups of slots: on a cluster, 64 groups of 256
// consecutive slots (a key's slot is CRC16 of the full key, or of its
// {hash tag}, mod 16384, as Redis computes it: keySlot), so a master's
// slots fall in their own groups and a dead master opens only those; on a
// single Redis, one group. A key's breaker opens after
// Config.BreakerThreshold consecutive failures of calls in its group, at once on a refused connection, and at once on an error reply
// that refuses the call: NOPERM (also inside a script), NOAUTH, WRONGPASS,
// READONLY, MASTERDOWN, LOADING, CLUSTERDOWN, MOVED or ASK. Such a reply
// will not change on a retry, and reads that the same Redis still serves
// (a read-only replica, an ACL without writes) would reset a count of
// consecutive failures. Each refusal is logged with its code and counted
// (Tier.Refused, core.Stats.L2Refused). Other error replies, such as
// WRONGTYPE (Get's core.ErrBadValue) or OOM, mean that Redis serves.
//
// While a group's breaker is open, calls on its keys fail at once with
// core.ErrUnavailable, so a down Redis does not cost each request a
// timeout, and a background probe runs every Config.ProbeInterval: a
// script that deletes the group's probe key, a key under the prefix in the
// group's slots that the application must not use (Prefix+"#probe{TAG}";
// no user name has a '#'), so it goes to
// the node that serves the group. Redis refuses it for every reason it
// would refuse the tier's own calls, where a PING would pass. One probe
// goroutine sends the scripts of all open groups in one DoMulti, which
// reaches each node in parallel; each group whose script Redis takes
// closes. Status is "degraded" while any group is open.
//
// L1 does not know a key's slot, and rueidis' callback for a lost
// connection does not say which node it was, so L1 is dropped whole
// (Invalidate(nil)) when a connection drops and when breakers close (L1
// entries filled from the store while a group was open were never
// tracked); the drop on closing is one per probe pass for all the groups
// that closed in it, so a promotion that closes a master's groups together
// drops L1 once, not once per group.
//
// Redis down at start-up is the same state, for one address or every node
// of a cluster, with every group open: rueidis cannot build a client
// without reaching a node, and until it exists the tier does not know
// whether it talks to a cluster, so the probe builds it first, then probes
// the groups (a single Redis then keeps only the first). A Redis that answers at start-up but refuses
// the connection (a wrong password, no client tracking) fails New instead;
// when that happens to the probe, it logs why and keeps trying.
package redis
