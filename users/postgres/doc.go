// Package postgres is the users.Store on PostgreSQL, through pgx: the store
// that several tiercache instances share.
//
// # Schema
//
// Open creates, if they are missing, a table tiercache_users (username
// primary key, email, version) and a sequence tiercache_versions. Instances
// may start together on one database: the DDL runs under a transaction-level
// advisory lock, since two concurrent CREATE TABLE IF NOT EXISTS can both
// find the table missing and one then fails. Uniqueness of usernames is the
// primary key's.
//
// # Durability
//
// A write returns nil once its transaction has committed, which is as
// durable as the server is configured to make it (fsync, synchronous_commit,
// replication). A write is one batch, the name's lock and the statement in
// one round trip and one implicit transaction, so no session ever holds a
// name's lock while it waits for its client: a stopped or cut-off instance
// cannot block a name for the others. The batch runs under the query
// timeout but not under the caller's cancellation, so that a caller who
// gives up does not get an error for a write that the database then holds.
// A write can still end in an error after it committed, when the connection
// or the timeout fails at that moment; as with any remote store, callers
// must treat an error as "maybe written".
//
// # Versions
//
// Every committed Create, Update and Delete takes its version from nextval
// of tiercache_versions. Sequences never go back and never hand out a
// value twice, across connections, instances and restarts (with the default
// CACHE 1, which Open uses; do not raise it: cached values would be drawn out
// of order by different connections). A refused or rolled-back write may
// leave a gap.
//
// nextval is drawn before commit, outside any transaction, so on its own it
// orders neither the writes of one name nor a "not found" against them. A
// per-name lock does both: pg_advisory_xact_lock(hashtextextended(name, 0)),
// held until the transaction ends. (Names whose hashes collide merely wait
// for each other.)
//
// Writes take it exclusively and draw nextval after it, so the writes of one
// name run one after the other and each draws its version after the previous
// one committed. Without it, a Delete racing a re-Create of the same name
// could do this:
//
//  1. Create's INSERT evaluates nextval and gets 41;
//  2. Delete removes the row and evaluates nextval in its RETURNING: 42;
//  3. Create's INSERT finds the removed row in the primary key index and
//     waits for Delete's transaction to end;
//  4. Delete commits; the key is free, so Create inserts and commits with 41.
//
// The user would exist with version 41, older than the deletion's 42, and a
// cache that saw the deletion would refuse the registration as stale.
//
// Get takes the lock shared, in the same transaction as its read. A miss
// returns core.ErrNotFound with the sequence's last value, which is at least
// the version of every write committed before the Get, as users.Store
// requires. The last value also counts draws of writes still in flight, so
// without the lock this could happen:
//
//  1. Create of kiran draws 41 and has not committed yet;
//  2. Get of kiran does not see it and returns "not found" with version 41;
//  3. a cache stores that "not found" with version 41;
//  4. Create commits, and its publication with version 41 is refused: the
//     cache keeps "not found" for a registered user.
//
// With the lock, Get waits for a write of the name in flight and then sees
// it, and a write that starts later draws its version after Get has read
// the last value: every write of the name that a miss did not see has a
// larger version than the miss.
//
// # Timeouts
//
// Every query runs with a deadline: the caller's, or Config.QueryTimeout
// from the start of the call when that comes first.
//
// # Concurrency and lifetime
//
// A Store is safe for concurrent use. It holds a pgxpool.Pool; its size and
// other connection settings come from the URL (for example
// pool_max_conns=8; pgxpool's default is the larger of 4 and the number of
// CPUs). Close closes the pool; later calls fail.
package postgres
