// Package memory is an in-process users.Store: the seed's dictionary, made
// safe for concurrent use.
//
// It is meant for tests and benchmarks, where it isolates the cache from any
// storage cost. It keeps nothing across restarts, so the durability promise of
// users.Store holds only for the life of the process. All methods are safe for
// concurrent use; Get takes a read lock, so reads proceed in parallel.
//
// Versions come from one counter for the whole Store, advanced under the
// write lock by every Create, Update and Delete that succeeds, so they
// increase in the order the writes are applied. Like the users, the counter
// does not survive the process.
package memory
