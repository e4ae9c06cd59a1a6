package bench

import (
	"fmt"
	"strconv"
)

// The names of the sub-benchmarks and of the result files, shared by the
// benchmarks and bench/cmd/report: a rename is a change of one constant,
// which the compiler carries to both sides, instead of a string that the
// report would silently stop finding.

// The read paths of BenchmarkCore, BenchmarkHandler and BenchmarkHTTP.
const (
	PathBare        = "bare"             // the ceiling: a handler writing an L1 hit's bytes (Handler, HTTP)
	PathL1Hit       = "l1-hit"           // L1 hit, ristretto
	PathL1HitOtter  = "l1-hit-otter"     // L1 hit, otter
	PathNegativeL1  = "negative-l1"      // "not found" answered by L1
	PathL2Redis     = "l2-hit-redis"     // no L1; one GETRANGE to Redis per read
	PathL2Redis32   = "l2-hit-redis-32g" // the same with RedisWideParallelism×GOMAXPROCS readers (Core only)
	PathStoreMemory = "store-memory"     // no tiers; the in-process memory store
	PathStoreBolt   = "store-bolt"       // no tiers; bbolt
	Stampede        = "stampede"         // 1,000 readers of one uncached user (Core only)
)

// The RunParallel parallelism of the read benchmarks: each runs
// parallelism×GOMAXPROCS goroutines, and so as many reads in flight.
const (
	CoreParallelism      = 1  // BenchmarkCore, and BenchmarkHandler
	RedisWideParallelism = 16 // BenchmarkCore/l2-hit-redis-32g
	HTTPParallelism      = 8  // BenchmarkHTTP: also its connections per GOMAXPROCS
	ConfigParallelism    = 16 // BenchmarkConfigs and BenchmarkHitRatio
)

// The sets of tiers of BenchmarkConfigs.
const (
	TiersNone    = "none"
	TiersL1      = "L1"
	TiersL2      = "L2"
	TiersL1L2    = "L1+L2"
	TiersOtterL2 = "otter+L2" // the otter L1 in front of L2
)

// The workloads of BenchmarkConfigs and BenchmarkHitRatio.
const (
	DistUniform = "uniform"
	DistZipf101 = "zipf1.01"
	DistZipf12  = "zipf1.2"
)

// The L1 libraries.
const (
	LibRistretto = "ristretto"
	LibOtter     = "otter"
)

// UsersLabel is 100k, 1M.
func UsersLabel(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

// ConfigName is the sub-benchmark of BenchmarkConfigs for users, a
// workload, a set of tiers and an L1 holding l1Pct percent of the users.
func ConfigName(users int, dist, tiers string, l1Pct int) string {
	return fmt.Sprintf("users=%s/dist=%s/tiers=%s/l1=%d%%", UsersLabel(users), dist, tiers, l1Pct)
}

// HitRatioUsers is the user count of BenchmarkHitRatio.
const HitRatioUsers = 100_000

// HitRatioSizes returns the L1 sizes of BenchmarkHitRatio, in percent of
// the users, smallest first. 0.1% is not one: an L1 under 64 KiB is refused.
func HitRatioSizes() []float64 { return []float64{0.5, 1, 2, 5, 10, 20} }

// HitRatioName is the sub-benchmark of BenchmarkHitRatio for a workload,
// an L1 library and an L1 holding pct percent of the users.
func HitRatioName(dist, lib string, pct float64) string {
	return fmt.Sprintf("dist=%s/l1=%s/size=%s%%", dist, lib, strconv.FormatFloat(pct, 'f', -1, 64))
}

// MemoryName is the sub-benchmark of BenchmarkL1Memory for a budget in MiB
// and an L1 library.
func MemoryName(budgetMiB int, lib string) string {
	return fmt.Sprintf("budget=%dMiB/l1=%s", budgetMiB, lib)
}

// RegisterName is the sub-benchmark of BenchmarkRegister for a set of
// tiers (TiersNone or TiersL1L2) and a number of clients.
func RegisterName(tiers string, clients int) string {
	return fmt.Sprintf("tiers=%s/clients=%d", tiers, clients)
}

// The sub-benchmarks of BenchmarkWrite.
const (
	WriteUpdate         = "update"          // Update, then Get
	WriteDeleteRegister = "delete-register" // Delete, Get, Create, Get
)

// The modes of BenchmarkTracking: Redis client tracking in broadcast
// (BCAST) or default (OPTIN) mode, at TrackingInstances instances.
const (
	TrackingBcast       = "bcast"        // the tier: one GETRANGE per read, BCAST tracking of the prefix
	TrackingOptin       = "optin"        // rueidis DoCache under OPTIN tracking (the tier before)
	TrackingOptinStatic = "optin-static" // DoCache with a static TTL: CLIENT CACHING YES and the read
)

// TrackingModes returns the modes of BenchmarkTracking, in the order they run.
func TrackingModes() []string { return []string{TrackingBcast, TrackingOptin, TrackingOptinStatic} }

// TrackingInstances returns the instance counts of BenchmarkTracking.
func TrackingInstances() []int { return []int{1, 3, 10} }

// TrackingName is the sub-benchmark of BenchmarkTracking for a mode and a
// number of instances.
func TrackingName(mode string, instances int) string {
	return fmt.Sprintf("%s/instances=%d", mode, instances)
}

// The files of bench/results.
const (
	FileRaw            = "raw.txt"              // go test -bench output (bench/run.sh)
	FileEnv            = "env.txt"              // the run's date, commit, machine and commands
	FileRedisBenchmark = "redis-benchmark.txt"  // redis-benchmark -t get --csv, the L2 baseline
	FileGains          = "gains.json"           // loadbench -mode gains: the user service on PostgreSQL
	FileProxy          = "proxy.json"           // loadbench: the proxies in front of the Go origin
	FileProxyFlask     = "proxy-flask.json"     // loadbench -origin flask: the same in front of Flask
	FileInstances      = "instances.json"       // loadbench -mode instances: 1 and 3 proxies
	FileStaleness      = "proxy-staleness.json" // loadbench -mode staleness
	DirLoadtest        = "loadtest"             // loadtest.Result summaries, one per scenario, model and server
)
