package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/valyala/fasthttp"
)

// A path is one way a read is answered, with the environment that forces it
// and the keys that it reads. BenchmarkCore, BenchmarkHandler and
// BenchmarkHTTP measure the same paths, over the same environments.
type path struct {
	name string
	env  func(testing.TB) *env
	keys func() []string
	// source is the tier that must answer every read, found whether the
	// user exists.
	source core.Source
	found  bool
	// par is the RunParallel parallelism of BenchmarkCore: par×GOMAXPROCS
	// goroutines; 0 means CoreParallelism.
	par int
	// http is false for paths that only BenchmarkCore measures.
	http bool
	// redisCmds is the number of commands that each read costs Redis.
	redisCmds float64
}

var bg = context.Background()

// The key sets. Reads cycle over them, each goroutine from its own offset.
func hotKeys() []string  { return userNames()[:1000] }
func wideKeys() []string { return userNames()[:10_000] }

var missingKeys = sync.OnceValue(func() []string {
	k := make([]string, 1000)
	for i := range k {
		k[i] = fmt.Sprintf("nobody%04d", i)
	}
	return k
})

// The environments of the paths are built once per process, over the
// memory store of 100k users (Redis holds the same users) unless noted.

// envL1L2 has L1 (64 MiB, the default) and L2: production.
func envL1L2(tb testing.TB) *env {
	return memo(tb, "path:l1+l2", func() *env {
		h.seedRedis(tb, 100_000)
		return newEnv(tb, h.memStore(tb, 100_000), tiers{l1Entries: -1, l2: true})
	})
}

// envOtterL2 is envL1L2 with the otter L1 tier instead of ristretto.
func envOtterL2(tb testing.TB) *env {
	return memo(tb, "path:otter+l2", func() *env {
		h.seedRedis(tb, 100_000)
		return newEnv(tb, h.memStore(tb, 100_000), tiers{l1Entries: -1, otter: true, l2: true})
	})
}

// envL2Redis has no L1, and L2 whose every read goes to redis-server:
// redis.Tier reads with one GETRANGE and keeps no local copy. The
// redis-cmds/op metric (1) shows it.
func envL2Redis(tb testing.TB) *env {
	return memo(tb, "path:l2-redis", func() *env {
		h.seedRedis(tb, 100_000)
		return newEnv(tb, h.memStore(tb, 100_000), tiers{l2: true})
	})
}

// envStoreMemory has no tiers: every read is a store load.
func envStoreMemory(tb testing.TB) *env {
	return memo(tb, "path:store-memory", func() *env {
		return newEnv(tb, h.memStore(tb, 100_000), tiers{})
	})
}

// envStoreBolt has no tiers, over bbolt holding 10k users.
func envStoreBolt(tb testing.TB) *env {
	return memo(tb, "path:store-bolt", func() *env {
		return newEnv(tb, h.boltStore(tb, 10_000), tiers{})
	})
}

// l1Hit is the path that the bare handlers imitate.
var l1Hit = path{name: PathL1Hit, env: envL1L2, keys: hotKeys, source: core.SourceL1, found: true, http: true}

var paths = []path{
	l1Hit,
	{name: PathL1HitOtter, env: envOtterL2, keys: hotKeys, source: core.SourceL1, found: true, http: true},
	// One GETRANGE.
	{name: PathL2Redis, env: envL2Redis, keys: wideKeys, source: core.SourceL2, found: true, http: true, redisCmds: 1},
	// The same with 16×GOMAXPROCS concurrent reads (32 on 2 cores), which
	// rueidis pipelines on its one connection: the throughput of the path
	// rather than its latency.
	{name: PathL2Redis32, env: envL2Redis, keys: wideKeys, source: core.SourceL2, found: true, par: RedisWideParallelism, redisCmds: 1},
	{name: PathStoreMemory, env: envStoreMemory, keys: wideKeys, source: core.SourceStore, found: true, http: true},
	{name: PathStoreBolt, env: envStoreBolt, keys: wideKeys, source: core.SourceStore, found: true, http: true},
	{name: PathNegativeL1, env: envL1L2, keys: missingKeys, source: core.SourceL1, found: false, http: true},
}

// prepare reads every key until each answers from p.source (at most four
// passes: the first read of a user fills L1 from L2, the second hits), and
// fails if one does not. Once that held for an env, later calls check a
// sample of the keys and read them all again only if one is off its path:
// a full pass of the Redis paths costs a second.
func (p path) prepare(tb testing.TB, e *env, keys []string) {
	tb.Helper()
	key := fmt.Sprintf("prepared:%s:%p", p.name, e)
	h.mu.Lock()
	_, done := h.envs[key]
	h.mu.Unlock()
	if done && p.wrong(e, keys[:min(len(keys), 100)]) == 0 {
		return
	}
	for pass := 0; ; pass++ {
		wrong := p.wrong(e, keys)
		if wrong == 0 {
			break
		}
		if pass == 3 {
			tb.Fatalf("%s: %d of %d keys still not answered by %v with found=%v after %d passes",
				p.name, wrong, len(keys), p.source, p.found, pass+1)
		}
	}
	memo(tb, key, func() bool { return true })
}

// wrong reads keys and returns how many were not answered as p says.
func (p path) wrong(e *env, keys []string) int {
	n := 0
	for _, k := range keys {
		r, err := e.cache.Get(bg, k)
		if r.Source != p.source || (err == nil) != p.found || (err != nil && !errors.Is(err, core.ErrNotFound)) {
			n++
		}
	}
	return n
}

// offsets spreads the goroutines of RunParallel over a key set.
type offsets struct{ next atomic.Uint64 }

func (o *offsets) start(n int) int { return int(o.next.Add(1)*7919) % n }

// BenchmarkCore measures core.Cache.Get on each path, with RunParallel:
// reads are concurrent in the server. ns/op is the wall time per read with
// GOMAXPROCS goroutines (32 for l2-hit-redis-32g).
func BenchmarkCore(b *testing.B) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			e, keys := p.env(b), p.keys()
			p.prepare(b, e, keys)
			var fail failures
			var off offsets
			b.ReportAllocs()
			b.SetParallelism(max(p.par, CoreParallelism))
			pr := e.probe(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := off.start(len(keys))
				for pb.Next() {
					r, err := e.cache.Get(bg, keys[i])
					if r.Source != p.source || (err == nil) != p.found {
						fail.add("%s: source %v, err %v", keys[i], r.Source, err)
					}
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
			pr.report(b)
			fail.check(b)
		})
	}
	b.Run(Stampede, benchStampede)
}

// slowStore delays every Get by a fixed latency, as a networked database
// would, so that a stampede's readers arrive while the load is in flight.
type slowStore struct {
	users.Store
	delay time.Duration
}

func (s slowStore) Get(ctx context.Context, name string) (users.User, error) {
	time.Sleep(s.delay)
	return s.Store.Get(ctx, name)
}

// stampedeReaders is docs/design.md's stampede: 1,000 concurrent GETs of one
// uncached user.
const stampedeReaders = 1000

// benchStampede measures 1,000 goroutines that read one user that no tier
// holds, with L1 and L2 on and a store whose reads take 1 ms. One op is one
// stampede, from releasing the readers until all have their answer;
// store-loads/op is the loads per stampede (the target is 1) and
// coalesced/op the readers that shared another's load. The readers are
// started before the timer and wait on a channel.
func benchStampede(b *testing.B) {
	type stampedeEnv struct {
		e     *env
		store *memory.Store
		next  int
	}
	se := memo(b, "stampede", func() *stampedeEnv {
		store := memory.New()
		e := newEnv(b, slowStore{Store: store, delay: time.Millisecond},
			tiers{l1Entries: -1, l2: true, prefix: "bench:stampede:"})
		return &stampedeEnv{e: e, store: store}
	})
	// Fresh users for this run's stampedes, in the store only.
	keys := make([]string, b.N)
	for i := range keys {
		se.next++
		keys[i] = fmt.Sprintf("s%08d", se.next)
		if _, err := se.store.Create(bg, userOf(keys[i])); err != nil {
			b.Fatal(err)
		}
	}
	var fail failures
	b.ReportAllocs()
	pr := se.e.probe(b)
	b.ResetTimer()
	for _, k := range keys {
		b.StopTimer()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range stampedeReaders {
			wg.Go(func() {
				<-start
				if r, err := se.e.cache.Get(bg, k); err != nil || r.Value == nil {
					fail.add("%s: %v", k, err)
				}
			})
		}
		runtime.Gosched()
		b.StartTimer()
		close(start)
		wg.Wait()
	}
	d := pr.report(b)
	b.ReportMetric(float64(d.Coalesced)/float64(b.N), "coalesced/op")
	fail.check(b)
}

// answers returns the body of the answer to a GET of each key, as get
// obtains it from tiercache, checking that the answer is 200 with
// cacheStatus; the bare handlers write these bodies.
func answers(tb testing.TB, keys []string, cacheStatus string, get func(path string) (status int, cs, body []byte)) map[string][]byte {
	tb.Helper()
	m := make(map[string][]byte, len(keys))
	for _, k := range keys {
		path := "/user/" + k
		status, cs, body := get(path)
		if status != fasthttp.StatusOK || string(cs) != cacheStatus {
			tb.Fatalf("GET %s: got %d, Cache-Status %q; want 200, %q", path, status, cs, cacheStatus)
		}
		m[path] = bytes.Clone(body)
	}
	return m
}

// The answers' Cache-Status per path.
const (
	csL1    = "tiercache; hit; detail=l1"
	csL2    = "tiercache; hit; detail=l2"
	csStore = "tiercache; fwd=miss; stored"
)

func (p path) want() (status int, cacheStatus string) {
	status = fasthttp.StatusOK
	if !p.found {
		status = fasthttp.StatusNotFound
	}
	switch p.source {
	case core.SourceL1:
		return status, csL1
	case core.SourceL2:
		return status, csL2
	}
	return status, csStore
}

func uris(prefix string, keys []string) []string {
	u := make([]string, len(keys))
	for i, k := range keys {
		u[i] = prefix + "/user/" + k
	}
	return u
}

// ceiling holds the ns/op of the runs of each benchmark's bare handler in
// this process, for the x-bare metric of the paths that follow it. go test
// runs the -count repetitions of a sub-benchmark one after the other, so
// all of bare's runs come before the first path's; x-bare divides by their
// median, so that one disturbed run of bare does not skew every ratio.
var ceiling struct {
	mu   sync.Mutex
	runs map[string][]float64 // benchmark family → ns/op of each run
}

// recordBare records the ns/op of a call of a bare benchmark. testing calls
// a benchmark function with b.N = 1 first, then with growing b.N; the last
// call of each repetition is the one it reports.
func recordBare(b *testing.B, family string) {
	ceiling.mu.Lock()
	defer ceiling.mu.Unlock()
	if ceiling.runs == nil {
		ceiling.runs = make(map[string][]float64)
	}
	runs := ceiling.runs[family]
	if b.N == 1 || len(runs) == 0 {
		runs = append(runs, 0)
	}
	runs[len(runs)-1] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	ceiling.runs[family] = runs
}

// reportXBare reports the ns/op of this run over the median of bare's.
func reportXBare(b *testing.B, family string) {
	ceiling.mu.Lock()
	runs := slices.Clone(ceiling.runs[family])
	ceiling.mu.Unlock()
	if len(runs) == 0 {
		return
	}
	slices.Sort(runs)
	median := (runs[(len(runs)-1)/2] + runs[len(runs)/2]) / 2
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/median, "x-bare")
}

// BenchmarkHandler measures server.Handler called directly, without a
// connection, as server's own BenchmarkGetL1Hit does: the cost of the
// handler and core on each path. "bare" is the ceiling: a handler that
// writes the same bytes as the L1 hits (see bareServer); x-bare is each
// path's ns/op over the median of bare's runs in this process.
func BenchmarkHandler(b *testing.B) {
	run := func(b *testing.B, handler fasthttp.RequestHandler, paths []string, status int, cs string) {
		var fail failures
		var off offsets
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := off.start(len(paths))
			ctx := newCtx(paths[i])
			for pb.Next() {
				ctx.Request.SetRequestURI(paths[i])
				ctx.Response.Reset()
				handler(ctx)
				if ctx.Response.StatusCode() != status || string(ctx.Response.Header.Peek("Cache-Status")) != cs {
					fail.add("%s: got %d, Cache-Status %q", paths[i], ctx.Response.StatusCode(), ctx.Response.Header.Peek("Cache-Status"))
				}
				if i++; i == len(paths) {
					i = 0
				}
			}
		})
		b.StopTimer()
		fail.check(b)
	}
	b.Run(PathBare, func(b *testing.B) {
		e := envL1L2(b)
		l1Hit.prepare(b, e, hotKeys())
		handler := memo(b, "handler:l1-hit", func() fasthttp.RequestHandler { return tiercacheServer(e).Handler })
		ans := memo(b, "handler:answers", func() map[string][]byte {
			return answers(b, hotKeys(), csL1, func(path string) (int, []byte, []byte) {
				ctx := newCtx(path)
				handler(ctx)
				return ctx.Response.StatusCode(), ctx.Response.Header.Peek("Cache-Status"), ctx.Response.Body()
			})
		})
		bare := bareHandler(ans, []byte(csL1))
		b.ResetTimer()
		run(b, bare, uris("", hotKeys()), fasthttp.StatusOK, csL1)
		recordBare(b, "handler")
	})
	for _, p := range paths {
		if !p.http {
			continue
		}
		b.Run(p.name, func(b *testing.B) {
			e, keys := p.env(b), p.keys()
			p.prepare(b, e, keys)
			handler := memo(b, "handler:"+p.name, func() fasthttp.RequestHandler { return tiercacheServer(e).Handler })
			status, cs := p.want()
			pr := e.probe(b)
			b.ResetTimer()
			run(b, handler, uris("", keys), status, cs)
			pr.report(b)
			reportXBare(b, "handler")
		})
	}
}

// BenchmarkHTTP measures GET /user/{name} end to end: a fasthttp HostClient
// with HTTPParallelism×GOMAXPROCS connections over an in-memory listener to the real
// server (server.New(...).HTTPServer()), on each path. The client runs in
// the same process, so ns/op and allocs/op include its share. "bare" is the
// ceiling: the same client against a fasthttp.Server whose handler writes
// the same bytes as the L1 hits (bareServer), measured in the same run;
// x-bare is each path's ns/op over the median of bare's runs.
func BenchmarkHTTP(b *testing.B) {
	conns := HTTPParallelism * runtime.GOMAXPROCS(0)
	run := func(b *testing.B, c *fasthttp.HostClient, uris []string, status int, cs string) {
		var fail failures
		var off offsets
		b.ReportAllocs()
		b.SetParallelism(HTTPParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			i := off.start(len(uris))
			for pb.Next() {
				req.SetRequestURI(uris[i])
				if err := c.Do(req, resp); err != nil {
					fail.add("GET %s: %v", uris[i], err)
				} else if resp.StatusCode() != status || string(resp.Header.Peek("Cache-Status")) != cs {
					fail.add("GET %s: got %d, Cache-Status %q", uris[i], resp.StatusCode(), resp.Header.Peek("Cache-Status"))
				}
				if i++; i == len(uris) {
					i = 0
				}
			}
		})
		b.StopTimer()
		fail.check(b)
	}
	b.Run(PathBare, func(b *testing.B) {
		srv := memo(b, "http:bare", func() *httpServer {
			real := memo(b, "http:l1-hit", func() *httpServer { return serve(tiercacheServer(envL1L2(b))) })
			l1Hit.prepare(b, envL1L2(b), hotKeys())
			c := real.client(1)
			ans := answers(b, hotKeys(), csL1, func(path string) (int, []byte, []byte) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://tiercache.bench" + path)
				if err := c.Do(req, resp); err != nil {
					b.Fatal(err)
				}
				return resp.StatusCode(), bytes.Clone(resp.Header.Peek("Cache-Status")), bytes.Clone(resp.Body())
			})
			return serve(bareServer(ans, []byte(csL1)))
		})
		run(b, srv.client(conns), uris("http://tiercache.bench", hotKeys()), fasthttp.StatusOK, csL1)
		recordBare(b, "http")
	})
	for _, p := range paths {
		if !p.http {
			continue
		}
		b.Run(p.name, func(b *testing.B) {
			e, keys := p.env(b), p.keys()
			p.prepare(b, e, keys)
			srv := memo(b, "http:"+p.name, func() *httpServer { return serve(tiercacheServer(e)) })
			status, cs := p.want()
			pr := e.probe(b)
			run(b, srv.client(conns), uris("http://tiercache.bench", keys), status, cs)
			pr.report(b)
			reportXBare(b, "http")
		})
	}
}
