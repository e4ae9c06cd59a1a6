// Package redis is the shared L2 tier on Redis, through rueidis with
// server-assisted client-side caching.
//
// Reads use DoCache, so rueidis keeps a small local copy of each value and
// Redis tracks the key for this connection (OPTIN tracking). When any client
// changes a tracked key, or it expires, Redis pushes an invalidation; the
// tier strips the key prefix and hands the key to the core.Invalidator (the
// L1). A lost connection or FLUSHALL arrives as Invalidate(nil).
//
// # Read-your-writes
//
// Redis sends a client the invalidation for its own write after the write's
// reply, so a read issued right after a write could still be served the old
// value from rueidis' local copy. Each write is therefore sent together with
// a read of the same key as a barrier on the same connection: the barrier's
// reply comes after the invalidation push, and rueidis processes a
// connection's messages in order, so when a write (SetVersion, Set, Del)
// returns, this process has dropped the old value from both rueidis and L1. This needs the
// write and the tracked reads on one connection: the tier uses one
// connection per Redis node (PipelineMultiplex -1), which auto-pipelining
// keeps busy enough for an L2.
//
// # Failures
//
// Every call runs under its own deadline (Config.Timeout); rueidis retries
// are off. After Config.BreakerThreshold consecutive failures, or one refused
// connection, the breaker opens: calls fail at once with core.ErrUnavailable, so a down Redis does
// not cost each request a timeout, and a background probe PINGs every
// Config.ProbeInterval. When a probe succeeds the tier calls
// Invalidate(nil), since L1 entries filled during the outage were never
// tracked, and closes the breaker. Redis down at start-up is the same state.
package redis
