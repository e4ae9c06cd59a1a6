package bench

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// A workload is a stream of reads of existing users: uniform over users, or
// Zipf with exponent s (rank r, the user of index r, is read with
// probability ∝ 1/(1+r)^s; math/rand/v2's Zipf needs s > 1).
type workload struct {
	dist  string
	s     float64 // 0 for uniform
	users int
}

// seeds numbers the samplers of the process. Every run draws new
// sequences: a run that repeated the previous run's reads would find them
// all cached and overstate the hit ratios.
var seeds atomic.Uint64

// sampler draws the user indexes of a workload; one per goroutine.
type sampler struct {
	r *rand.Rand
	z *rand.Zipf
	n int
}

func (w workload) sampler(seed uint64) *sampler {
	r := rand.New(rand.NewPCG(0x7469657263616368, seed))
	s := &sampler{r: r, n: w.users}
	if w.s > 0 {
		s.z = rand.NewZipf(r, w.s, 1, uint64(w.users-1))
	}
	return s
}

func (s *sampler) next() int {
	if s.z != nil {
		return int(s.z.Uint64())
	}
	return s.r.IntN(s.n)
}

// A config is a set of tiers: l1Pct sizes L1 to hold that percentage of
// the users (see l1Bytes), 0 for no L1.
type config struct {
	tiers string
	l1Pct int
	l2    bool
	otter bool // the otter L1 tier instead of ristretto
}

var (
	workloads = []workload{
		{dist: DistUniform},
		{dist: DistZipf101, s: 1.01},
		{dist: DistZipf12, s: 1.2},
	}
	configs = []config{
		{tiers: TiersNone},
		{tiers: TiersL1, l1Pct: 1},
		{tiers: TiersL1, l1Pct: 10},
		{tiers: TiersL2, l2: true},
		{tiers: TiersL1L2, l1Pct: 1, l2: true},
		{tiers: TiersL1L2, l1Pct: 10, l2: true},
		{tiers: TiersOtterL2, l1Pct: 1, l2: true, otter: true},
		{tiers: TiersOtterL2, l1Pct: 10, l2: true, otter: true},
	}
	userCounts = []int{100_000, 1_000_000}
)

// ConfigParallelism is the RunParallel parallelism of BenchmarkConfigs:
// 32 concurrent reads on 2 cores, as a server with many connections has,
// and what lets rueidis pipeline the reads that reach Redis on its one
// connection.

// BenchmarkConfigs runs each workload against each config, side by side:
// no cache (every read a load from the memory store), L1 only (1% or 10%
// of the users), L2 only (Redis holding every user), and L1+L2.
//
// Each env is warmed with its workload before its first measurement (at
// least 100k reads, and 3 reads per L1 entry), and kept for the process,
// so every repetition measures a cache in its steady state. The hit ratio of
// each tier comes from core.Cache.Stats over the measured reads; every L2
// read reaches Redis, one command each (redis-cmds/op). req/s is b.N over
// the wall time.
func BenchmarkConfigs(b *testing.B) {
	for _, n := range userCounts {
		for _, w := range workloads {
			w.users = n
			for _, c := range configs {
				name := ConfigName(n, w.dist, c.tiers, c.l1Pct)
				b.Run(name, func(b *testing.B) {
					ce := memo(b, "config:"+name, func() *configEnv {
						store := h.memStore(b, n)
						if c.l2 {
							h.seedRedis(b, n)
						}
						return &configEnv{e: newEnv(b, store, tiers{l1Entries: n * c.l1Pct / 100, l2: c.l2, otter: c.otter})}
					})
					e := ce.e
					e.settle(b)
					if c.l1Pct > 0 || c.l2 {
						ce.warm(b, w, max(100_000, 3*n*c.l1Pct/100))
					}
					var fail failures
					all := userNames()
					b.ReportAllocs()
					b.SetParallelism(ConfigParallelism)
					pr := e.probe(b)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						s := w.sampler(seeds.Add(1))
						for pb.Next() {
							k := all[s.next()]
							if _, err := e.cache.Get(bg, k); err != nil {
								fail.add("%s: %v", k, err)
							}
						}
					})
					pr.report(b)
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
					fail.check(b)
				})
			}
		}
	}
}

// BenchmarkHitRatio measures the L1 hit ratio against the L1 size: each
// workload against an L1 alone (no L2: what stands behind L1 does not
// change what it keeps) of each library, sized to hold each of
// HitRatioSizes percent of HitRatioUsers users, over the memory store. Its
// figure is l1-hit-ratio; the throughput of these configurations is
// BenchmarkConfigs'. One user count only, and bench/run.sh runs it with
// -count 2 and a fixed 50,000 reads (-benchtime 50000x), which keep the
// sweep under two minutes on 2 cores. Each L1 is warmed with max(100k,
// 3 × its entries) reads of its workload before it is measured.
func BenchmarkHitRatio(b *testing.B) {
	n := HitRatioUsers
	for _, w := range workloads {
		w.users = n
		for _, lib := range []string{LibRistretto, LibOtter} {
			for _, pct := range HitRatioSizes() {
				name := HitRatioName(w.dist, lib, pct)
				b.Run(name, func(b *testing.B) {
					entries := max(1, int(float64(n)*pct/100))
					ce := memo(b, "hit-ratio:"+name, func() *configEnv {
						return &configEnv{e: newEnv(b, h.memStore(b, n), tiers{l1Entries: entries, otter: lib == LibOtter})}
					})
					ce.warm(b, w, max(100_000, 3*entries))
					pr := ce.e.probe(b)
					b.ResetTimer()
					if err := runWorkload(ce.e, w, b.N); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					pr.report(b)
				})
			}
		}
	}
}

// configEnv is the env of one config and workload, with what its warm-up
// did.
type configEnv struct {
	e       *env
	warmed  bool
	dropped uint64 // L2's invalidations of everything, at the last warm-up
}

// warm reads ops users of w from e: on first use, and again after L2
// invalidated everything (a lost connection, the breaker closing), which
// drops L1, so that every repetition measures the steady state.
func (ce *configEnv) warm(tb testing.TB, w workload, ops int) {
	tb.Helper()
	var dropped uint64
	if ce.e.inv != nil {
		dropped = ce.e.inv.all.Load()
	}
	if ce.warmed && dropped == ce.dropped {
		return
	}
	if err := runWorkload(ce.e, w, ops); err != nil {
		tb.Fatal(err)
	}
	ce.warmed, ce.dropped = true, dropped
}

// runWorkload reads ops users of w from e with ConfigParallelism×2 goroutines.
func runWorkload(e *env, w workload, ops int) error {
	const goroutines = ConfigParallelism * 2
	var left atomic.Int64
	left.Store(int64(ops))
	var wg sync.WaitGroup
	var fail failures
	all := userNames()
	for range goroutines {
		wg.Go(func() {
			s := w.sampler(seeds.Add(1))
			for left.Add(-1) >= 0 {
				k := all[s.next()]
				if _, err := e.cache.Get(bg, k); err != nil {
					fail.add("%s: %v", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := fail.n.Load(); n > 0 {
		return fmt.Errorf("cannot warm up: %d reads failed; the first: %s", n, fail.first)
	}
	return nil
}
