// Package coretest holds the conformance suites for the interfaces of core.
//
// Every implementation runs the suite of its interface from its own tests,
// so that it cannot drift from the contract that core relies on:
//
//   - TestTier checks a core.Tier: misses, copies, expiry, no older value
//     after a write.
//   - TestShared checks a core.Shared: TestTier, versioned writes and
//     repairs, "not found" markers, values of any bytes, read-your-writes,
//     and the invalidation feed. It needs two handles on one storage, as
//     two instances see one L2.
//   - TestLoader checks a core.Loader: the versions it returns order its
//     values and misses among the writes that the application makes to the
//     source.
//
// A new source of truth plugs in with its Loader and its own writes:
//
//	func TestLoader(t *testing.T) {
//		coretest.TestLoader(t, func(t *testing.T) coretest.Source {
//			db := open(t)
//			return coretest.Source{
//				Loader: db,
//				Write:  db.Put,    // (key string, value []byte) (uint64, error)
//				Delete: db.Delete, // (key string) (uint64, error)
//			}
//		})
//	}
//
// A new L2 returns two handles that share a new, empty storage (two clients
// on one fresh key prefix, say):
//
//	func TestShared(t *testing.T) {
//		coretest.TestShared(t, func(t *testing.T) (a, b core.Shared) {
//			s := memory.New()
//			return s.NewTier(), s.NewTier()
//		})
//	}
//
// backends/memory is the reference core.Shared: a second L2 passes the same
// suite.
//
// The suites use only the standard library and package core; they know
// nothing of any backend.
package coretest
