// Package bolt is the embedded, durable users.Store on go.etcd.io/bbolt: the
// default store of a single tiercache instance.
//
// # Durability
//
// When Create, Update or Delete returns nil, the write is committed and
// fsynced: it survives kill -9 of the process, and a power cut as far as the
// disk honours fsync. Reads see every write acknowledged before they began.
//
// # Versions
//
// Each user is stored as {"email":…,"username":…,"version":N}. N comes from
// the sequence of the users bucket, which bbolt keeps in the file and commits
// in the same transaction as the write, so versions keep increasing across
// deletes, re-registrations, restarts and crashes: a sequence step can only
// be lost together with the write it was drawn for, whose caller was then
// not given it. Create, Update and Delete return the version of their write;
// a refused one (users.ErrExists, core.ErrNotFound) draws no version and
// changes nothing. Versions may skip numbers but never repeat or go back.
//
// # Group commit
//
// bbolt allows one write transaction at a time, and each commit costs fsyncs.
// One goroutine per Store therefore does all the writing: it takes every
// request queued at that moment (up to Config.MaxBatch), applies them in
// order in one transaction, commits once, and then answers each of them. A
// lone client pays one commit and waits for nothing else; concurrent clients
// queue while a commit is in flight and share the next one, so throughput
// grows with concurrency instead of being capped at one write per fsync.
// Outcomes and versions are decided in queue order inside the transaction,
// so of two Creates of one name in one batch the first wins and the second
// gets users.ErrExists, and a later write of a user in the batch gets a higher
// version than an earlier one. If the transaction fails, every request in it
// gets the error and no version, and none of them is applied.
//
// A write whose ctx ends while it is still queued is abandoned and writes
// nothing. Once the writer has taken it, its caller waits for the commit
// whatever ctx says, because the answer must match what is on disk.
//
// # Concurrency and lifetime
//
// All methods are safe for concurrent use; reads run in parallel with each
// other and with the writer. The file is locked for the life of the Store, so
// a second Store on it, in this process or another, fails to open after about
// a second. Close lets queued writes finish, then closes the file.
package bolt
