package redis_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/internal/redistest"
)

// What an L2 read costs the client: Tier.Get of a 100-byte value and of a
// missing key on a real Redis on loopback, one reader at a time and 16 per
// GOMAXPROCS (the tier's one connection then pipelines them), these with
// the default FlushDelay and with 20µs (which readers one at a time never
// wait). Wall-clock
// depends on the machine's load; B/op, allocs/op and cpu-ns/op (the CPU
// time of this process, rueidis' connection goroutines and the GC
// included, Redis excluded) depend on it less.
//
//	go test -run '^$' -bench TierGet -benchmem -count 10 ./backends/redis/
func BenchmarkTierGet(b *testing.B) {
	srv := redistest.Start(b)
	tier, err := redis.New(redis.Config{URL: srv.URL(), Prefix: "bench:", Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer tier.Close()
	delayed, err := redis.New(redis.Config{URL: srv.URL(), Prefix: "bench:", Timeout: time.Second, FlushDelay: 20 * time.Microsecond})
	if err != nil {
		b.Fatal(err)
	}
	defer delayed.Close()
	ctx := context.Background()
	val := bytes.Repeat([]byte("x"), 100)
	if err := tier.Set(ctx, "hit", val, time.Hour); err != nil {
		b.Fatal(err)
	}
	// get reports a wrong answer with Errorf, which RunParallel's
	// goroutines may call, and tells the loop to stop.
	get := func(b *testing.B, tier *redis.Tier, key string, found bool) bool {
		v, ok, err := tier.Get(ctx, key)
		if err != nil || ok != found || len(v) != len(val)*btoi(found) {
			b.Errorf("Get(%q) = %d bytes, %v, %v; want found %v", key, len(v), ok, err, found)
			return false
		}
		return true
	}
	for _, bc := range []struct {
		name  string
		key   string
		found bool
	}{{"hit", "hit", true}, {"miss", "miss", false}} {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if !get(b, tier, bc.key, bc.found) {
					return
				}
			}
		})
		for _, pc := range []struct {
			name string
			tier *redis.Tier
		}{{"parallel", tier}, {"parallel/flush-delay=20µs", delayed}} {
			b.Run(bc.name+"/"+pc.name, func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() && get(b, pc.tier, bc.key, bc.found) {
					}
				})
			})
		}
	}
}

// reportCPU returns a function that reports the CPU time that the process
// spent since, per operation, as cpu-ns/op. Call it after the loop.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

// cpuTime is the user and system CPU time of the process.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
