package bench

// BenchmarkTracking compares the ways an instance can read L2 and hear of
// changes, at 1, 3 and 10 instances on one redis-server. The modes:
//
//   - bcast: what backends/redis does: redis.Tier.Get, one GETRANGE (Do), on
//     a connection with CLIENT TRACKING ON PREFIX p BCAST: every instance
//     hears every write under the prefix, whether it read the key or not.
//   - optin: the tier's reads before that: DoCache under rueidis' default
//     OPTIN tracking, local TTL 1h, 8 MiB: a local miss sends CLIENT CACHING
//     YES, MULTI, PTTL, GETRANGE, EXEC; only the key's readers hear of it.
//   - optin-static: optin with ToStaticTTL: CLIENT CACHING YES and GETRANGE,
//     no MULTI/PTTL/EXEC; the local copy lives for the client TTL, cut short
//     by Redis' invalidation on a write or an expiry.

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/internal/launch"
)

// The workload of BenchmarkTracking.
const (
	// trackingKeys is the number of keys read, each holding trackingValue.
	// Every instance reads every key in turn, so an instance reads a key
	// again only after trackingKeys reads of its own: more than its 8 MiB
	// local cache holds, so every read in the optin modes misses its
	// local copy, as an L2 read behind an L1 does (local-hits/read shows
	// it).
	trackingKeys = 50_000
	// trackingReadsPerWrite paces the writer: one write per this many reads.
	trackingReadsPerWrite = 100
	// trackingWriteLag is how many keys behind the readers a hot write
	// is: far enough that all instances have read the key.
	trackingWriteLag = 64
	// trackingPrefix is the prefix of every key, read or written.
	trackingPrefix = "tracking:"
	// trackingLocalBytes and trackingLocalTTL are the optin modes' client
	// cache, the values of the tier's LocalBytes and LocalTTL defaults
	// before it read with Do.
	trackingLocalBytes = 8 << 20
	trackingLocalTTL   = time.Hour
	// trackingTimeout bounds each read, as the tier's Config.Timeout does;
	// longer than the tier's default, so that a loaded machine does not
	// trip its breaker.
	trackingTimeout = time.Second
)

// trackingValue is every key's value, 80 bytes (redis-benchmark -d 80) in
// the tier's {"v":VERSION,"d":VAL} form; trackingVal is its VAL.
var (
	trackingValue = `{"v":1,"d":"` + strings.Repeat("x", 80-len(`{"v":1,"d":""}`)) + `"}`
	trackingVal   = []byte(trackingValue[len(`{"v":1,"d":`) : len(trackingValue)-1])
)

// BenchmarkTracking measures one L2 read per op, by n instances (n rueidis
// clients, each with its own connection and tracking) on one redis-server
// of its own, with 16×GOMAXPROCS goroutines (32 on 2 cores) as in
// l2-hit-redis-32g. Read i goes to instance i mod n and reads key
// (i / n) mod trackingKeys, so each key is read by every instance in turn.
//
// A writer on a connection of its own, without tracking, writes once per
// trackingReadsPerWrite reads, alternately a key that every instance has
// just read (trackingWriteLag keys behind the readers) and a key under the
// prefix that no instance reads (as a new user, or a version counter):
// OPTIN reports the first to every instance, BCAST reports both.
//
// Metrics: cmds/read, the commands that redis-server ran (INFO
// commandstats) over the reads, without the writer's SETs and the INFOs
// that read them; pushes/write, the invalidation messages that all
// instances received (rueidis' OnInvalidations calls, or the tier's
// Invalidate calls, one per message) per write; local-hits/read in the
// optin modes, the reads answered by rueidis' local copy; redis-cpu-ns/read
// and client-cpu-ns/read, the CPU time that redis-server (INFO cpu) and
// this process (getrusage: instances, writer, benchmark) used per read,
// writes and pushes included, which a loaded machine disturbs less than
// ns/op. ns/op is the wall time per read: n instances share this process
// and its 32 goroutines, so each connection pipelines fewer reads at once
// as n grows.
func BenchmarkTracking(b *testing.B) {
	srv := trackingServer(b)
	var cur *trackingEnv // the instances of the sub-benchmark that runs
	defer func() {
		if cur != nil {
			cur.close()
		}
	}()
	for _, mode := range TrackingModes() {
		for _, n := range TrackingInstances() {
			name := TrackingName(mode, n)
			b.Run(name, func(b *testing.B) {
				// testing calls this function with growing b.N and
				// again for each -count, one call after the other: the
				// instances live until the next sub-benchmark, so that
				// their tracking state carries over.
				if cur == nil || cur.name != name {
					if cur != nil {
						cur.close()
						cur = nil
					}
					cur = newTrackingEnv(b, srv, name, mode, n)
				}
				cur.run(b)
			})
		}
	}
}

// trackingServer starts the benchmark's own redis-server, stopped when
// the process ends, and stores trackingValue under every key.
func trackingServer(tb testing.TB) *launch.Redis {
	tb.Helper()
	return memo(tb, "tracking:redis", func() *launch.Redis {
		r, err := launch.StartRedis(h.tempDir(tb, "tracking-redis"))
		if err != nil {
			tb.Fatalf("cannot start redis-server: %v", err)
		}
		h.onClose(r.Stop)
		c := trackingWriter(tb, r)
		defer c.Close()
		cmds := make(rueidis.Commands, 0, 2000)
		for lo := 0; lo < trackingKeys; lo += cap(cmds) {
			cmds = cmds[:0]
			for i := lo; i < min(lo+cap(cmds), trackingKeys); i++ {
				cmds = append(cmds, c.B().Set().Key(trackingPrefix+trackingName(i)).Value(trackingValue).Build())
			}
			for _, res := range c.DoMulti(bg, cmds...) {
				if err := res.Error(); err != nil {
					tb.Fatalf("cannot seed redis: %v", err)
				}
			}
		}
		return r
	})
}

func trackingName(i int) string { return fmt.Sprintf("k%06d", i) }

// trackingWriter returns a client without tracking.
func trackingWriter(tb testing.TB, r *launch.Redis) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{r.Addr}, DisableCache: true, ForceSingleClient: true, DisableRetry: true,
		// One connection, opened here: a second one, opened during a run,
		// would add its HELLO to the reads' commands.
		PipelineMultiplex: -1,
	})
	if err != nil {
		tb.Fatalf("cannot connect to redis: %v", err)
	}
	return c
}

// trackingInstance is one instance's L2 client.
type trackingInstance struct {
	tier   *redis.Tier    // bcast
	client rueidis.Client // optin, optin-static
	static bool           // optin-static
}

// read reads key i and reports whether rueidis' local copy answered.
func (in *trackingInstance) read(i int) (localHit bool, err error) {
	name := trackingName(i)
	if in.tier != nil {
		v, ok, err := in.tier.Get(bg, name)
		if err == nil && (!ok || !bytes.Equal(v, trackingVal)) {
			err = fmt.Errorf("got %q, %v; want %q", v, ok, trackingVal)
		}
		return false, err
	}
	ctx, cancel := context.WithTimeout(bg, trackingTimeout)
	defer cancel()
	cmd := in.client.B().Getrange().Key(trackingPrefix + name).Start(0).End(-1).Cache()
	if in.static {
		cmd = cmd.ToStaticTTL()
	}
	r := in.client.DoCache(ctx, cmd, trackingLocalTTL)
	v, err := r.AsBytes()
	if err == nil && string(v) != trackingValue {
		err = fmt.Errorf("got %q; want %q", v, trackingValue)
	}
	return r.IsCacheHit(), err
}

// barrier returns once the instance has received every invalidation that
// Redis sent it for writes acknowledged before: a command on the
// instance's one connection, answered after Redis wrote those pushes.
func (in *trackingInstance) barrier() error {
	ctx, cancel := context.WithTimeout(bg, trackingTimeout)
	defer cancel()
	if in.tier != nil {
		_, _, err := in.tier.Get(ctx, trackingName(0))
		return err
	}
	return in.client.Do(ctx, in.client.B().Ping().Build()).Error()
}

func (in *trackingInstance) close() {
	if in.tier != nil {
		in.tier.Close()
	} else {
		in.client.Close()
	}
}

// trackingEnv is the n instances of one sub-benchmark and the writer.
type trackingEnv struct {
	name      string
	srv       *launch.Redis
	instances []*trackingInstance
	writer    rueidis.Client
	next      atomic.Uint64 // the next read, across the calls of the sub-benchmark
	writes    uint64        // done, across the calls; each call's writer adds its own
	pushes    atomic.Uint64 // invalidation messages received by all instances
	lost      atomic.Uint64 // connections lost (an invalidation of everything)
}

func newTrackingEnv(tb testing.TB, srv *launch.Redis, name, mode string, n int) *trackingEnv {
	tb.Helper()
	e := &trackingEnv{name: name, srv: srv, writer: trackingWriter(tb, srv)}
	onPush := func(ms []rueidis.RedisMessage) {
		if ms == nil {
			e.lost.Add(1)
		} else {
			e.pushes.Add(1)
		}
	}
	for range n {
		in := &trackingInstance{}
		switch mode {
		case TrackingBcast:
			t, err := redis.New(redis.Config{
				URL: srv.URL(), Prefix: trackingPrefix, Timeout: trackingTimeout, Logger: logger,
			})
			if err != nil {
				e.close()
				tb.Fatal(err)
			}
			t.Subscribe(countingPushes{e})
			in.tier = t
		case TrackingOptin, TrackingOptinStatic:
			c, err := rueidis.NewClient(rueidis.ClientOption{
				InitAddress: []string{srv.Addr}, ForceSingleClient: true,
				PipelineMultiplex: -1, DisableRetry: true, // as the tier
				CacheSizeEachConn: trackingLocalBytes,
				OnInvalidations:   onPush,
				// ClientTrackingOptions unset: rueidis' default, OPTIN.
			})
			if err != nil {
				e.close()
				tb.Fatal(err)
			}
			in.client, in.static = c, mode == TrackingOptinStatic
		default:
			e.close()
			tb.Fatalf("unknown mode %q", mode)
		}
		e.instances = append(e.instances, in)
	}
	// The first trackingWriteLag keys, read by every instance as the
	// runs would read them, so that the first hot write has a key to
	// write that every instance has read.
	for c := range uint64(trackingWriteLag * n) {
		if _, err := e.instances[c%uint64(n)].read(int(c / uint64(n))); err != nil {
			e.close()
			tb.Fatalf("read %s: %v", trackingName(int(c/uint64(n))), err)
		}
	}
	e.next.Store(uint64(trackingWriteLag * n))
	return e
}

// countingPushes counts the tier's Invalidate calls: one per invalidation
// message, whose keys are all under the prefix that it tracks.
type countingPushes struct{ e *trackingEnv }

func (c countingPushes) Invalidate(keys []string) {
	if keys == nil {
		c.e.lost.Add(1)
	} else {
		c.e.pushes.Add(1)
	}
}

func (e *trackingEnv) close() {
	for _, in := range e.instances {
		in.close()
	}
	e.writer.Close()
}

// run runs b.N reads with the writer; see BenchmarkTracking.
func (e *trackingEnv) run(b *testing.B) {
	n := uint64(len(e.instances))
	var fail failures
	var localHits atomic.Uint64

	// The writer: readers hand it the number of every
	// trackingReadsPerWrite-th read.
	kick := make(chan uint64, 4096)
	var writes uint64
	var writer sync.WaitGroup
	writer.Go(func() {
		for c := range kick {
			w := e.writes + writes
			key := trackingPrefix + "cold:" + strconv.FormatUint(w%trackingKeys, 10)
			if w%2 == 0 {
				key = trackingPrefix + trackingName(int((c/n-trackingWriteLag)%trackingKeys))
			}
			ctx, cancel := context.WithTimeout(bg, trackingTimeout)
			err := e.writer.Do(ctx, e.writer.B().Set().Key(key).Value(trackingValue).Build()).Error()
			cancel()
			if err != nil {
				fail.add("SET %s: %v", key, err)
			}
			writes++
		}
	})

	before, redisCPU := trackingInfo(b, e.srv)
	pushes, lost := e.pushes.Load(), e.lost.Load()
	clientCPU := processCPU(b)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := e.next.Add(1) - 1
			in := e.instances[c%n]
			i := int(c / n % trackingKeys)
			hit, err := in.read(i)
			if err != nil {
				fail.add("read %s: %v", trackingName(i), err)
			}
			if hit {
				localHits.Add(1)
			}
			if c%trackingReadsPerWrite == trackingReadsPerWrite-1 {
				kick <- c
			}
		}
	})
	b.StopTimer()
	close(kick)
	writer.Wait()
	e.writes += writes
	clientCPU = processCPU(b) - clientCPU
	after, redisCPUAfter := trackingInfo(b, e.srv)
	redisCPU = redisCPUAfter - redisCPU
	for _, in := range e.instances {
		if err := in.barrier(); err != nil {
			fail.add("barrier: %v", err)
		}
	}
	fail.check(b)
	if l := e.lost.Load() - lost; l != 0 {
		b.Errorf("%d connections lost during the run", l)
	}

	var cmds int64
	for cmd, calls := range after {
		switch cmd {
		case "set", "info": // the writer's, and ours
		default:
			cmds += calls - before[cmd]
		}
	}
	b.ReportMetric(float64(cmds)/float64(b.N), "cmds/read")
	if writes > 0 {
		b.ReportMetric(float64(e.pushes.Load()-pushes)/float64(writes), "pushes/write")
	}
	if e.instances[0].client != nil {
		b.ReportMetric(float64(localHits.Load())/float64(b.N), "local-hits/read")
	}
	b.ReportMetric(float64(redisCPU.Nanoseconds())/float64(b.N), "redis-cpu-ns/read")
	b.ReportMetric(float64(clientCPU.Nanoseconds())/float64(b.N), "client-cpu-ns/read")
}

// trackingInfo returns the calls of each command that redis-server ran
// (INFO commandstats: "cmdstat_client|caching:calls=3,usec=…") and the
// CPU time that it used (INFO cpu: used_cpu_sys and used_cpu_user, in
// seconds).
func trackingInfo(tb testing.TB, r *launch.Redis) (calls map[string]int64, cpu time.Duration) {
	tb.Helper()
	info, err := r.Do("INFO", "commandstats", "cpu")
	if err != nil {
		tb.Fatalf("cannot read redis INFO: %v", err)
	}
	calls = make(map[string]int64)
	for line := range strings.SplitSeq(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if cmd, isCmd := strings.CutPrefix(name, "cmdstat_"); isCmd {
			v, _, _ = strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			c, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("cannot parse INFO commandstats line %q: %v", line, err)
			}
			calls[cmd] = c
		} else if name == "used_cpu_sys" || name == "used_cpu_user" {
			sec, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("cannot parse INFO cpu line %q: %v", line, err)
			}
			cpu += time.Duration(sec * float64(time.Second))
		}
	}
	return calls, cpu
}

// processCPU returns the CPU time that this process has used, user and
// system: the instances', the writer's and the benchmark's.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("cannot read the process's CPU time: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
