// Package bench holds the benchmarks that quantify what each tier of
// tiercache buys. Its only non-test code is names.go: the names of the
// sub-benchmarks and of the result files, which bench/cmd/report imports,
// so that renaming a benchmark breaks the build rather than silently
// dropping a section of BENCHMARKS.md.
//
// They run against the real components: a redis-server that the harness
// starts once per benchmark process on a free loopback port (a missing
// binary fails the run with an install hint), the ristretto L1, bbolt with
// fsync on in a temporary directory, and the fasthttp server of package
// server over an in-memory listener.
//
//	make bench                           # the whole suite, raw output in bench/results/
//	go test -C bench -run '^$' -bench 'Core' .
//
// bench is a module of its own (bench/go.mod, with bench/cmd/report and
// bench/cmd/loadbench), so that its dependencies are none of the library's;
// hence -C bench from the repository root.
//
// The benchmarks, one sub-benchmark per scenario:
//
//   - BenchmarkCore: core.Cache.Get per path (L1 hit, L2 hit from rueidis'
//     client-side cache, L2 hit from Redis, store load, negative hit) and
//     a stampede of 1,000 goroutines on one uncached key.
//   - BenchmarkHandler and BenchmarkHTTP: the same paths through
//     server.Handler called directly, and end to end through the fasthttp
//     server, each next to a bare handler that writes the same bytes as an
//     L1 hit, measured in the same run (metric x-bare: ns/op over the
//     median of the bare runs).
//   - BenchmarkConfigs: no cache, L1, L2 and L1+L2 side by side on uniform
//     and Zipf workloads over 100k and 1M users, with the hit ratio of each
//     tier.
//   - BenchmarkHitRatio: the L1 hit ratio of each library against its size,
//     from 0.5% to 20% of 100k users, on the same workloads.
//   - BenchmarkRegister and BenchmarkWrite: durable registrations over HTTP
//     on bbolt, and updates and deletes with their invalidations.
//
// Every benchmark reports the core.Cache counters as custom metrics
// (l1-hit-ratio, l2-hit-ratio, store-loads/op) and, where Redis is used,
// redis-cmds/op, the commands that reached redis-server per operation
// (from INFO, so a path that claims to be served locally proves it).
//
// Environments (caches, servers, seeded stores) are built once per process
// and kept, so that the repetitions of -count measure a warm cache instead
// of rebuilding and rewarming it.
package bench
