package bench

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/bolt"
	"github.com/valyala/fasthttp"
)

// registerEnv is a tiercache server over a bbolt store (fsync on) that
// starts empty; registrations go to it through HTTP.
type registerEnv struct {
	e    *env
	bolt *bolt.Store
	srv  *httpServer
}

// registered numbers the users that BenchmarkRegister creates, unique in
// the process, so that every registration is new.
var registered atomic.Int64

// BenchmarkRegister measures POST /register end to end (HostClient over an
// in-memory listener, as BenchmarkHTTP) on bbolt with fsync on, each
// request a new user, with exactly 1, 8 and 64 concurrent clients, each on
// its own connection. tiers=L1+L2 is production: after the commit, the
// write goes to Redis (a versioned SET and a barrier read); tiers=none
// shows the store alone. creates/s is b.N over the wall time, the figure of
// the docs/design.md target (≥ 10,000/s at 64 clients); writes/commit is how many
// registrations bbolt's group commit shared an fsync with.
func BenchmarkRegister(b *testing.B) {
	for _, l2 := range []bool{true, false} {
		label := TiersNone
		if l2 {
			label = TiersL1L2
		}
		for _, clients := range []int{1, 8, 64} {
			b.Run(RegisterName(label, clients), func(b *testing.B) {
				re := memo(b, "register:"+label, func() *registerEnv {
					s := h.boltStore(b, 0)
					t := tiers{}
					if l2 {
						t = tiers{l1Entries: -1, l2: true, prefix: "bench:register:"}
					}
					e := newEnv(b, s, t)
					return &registerEnv{e: e, bolt: s, srv: serve(tiercacheServer(e))}
				})
				c := re.srv.client(clients)
				var fail failures
				var started atomic.Int64
				before := re.bolt.Stats()
				b.ReportAllocs()
				// RunParallel starts a multiple of GOMAXPROCS goroutines;
				// the surplus leave at once, so that exactly clients
				// goroutines send.
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((clients + procs - 1) / procs)
				pr := re.e.probe(b)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					if started.Add(1) > int64(clients) {
						return
					}
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.Header.SetMethod(fasthttp.MethodPost)
					req.SetRequestURI("http://tiercache.bench/register")
					req.Header.SetContentType("application/json")
					var body, name []byte
					for pb.Next() {
						name = strconv.AppendInt(append(name[:0], 'r'), registered.Add(1), 10)
						body = append(body[:0], `{"username":"`...)
						body = append(body, name...)
						body = append(body, `","email":"`...)
						body = append(body, name...)
						body = append(body, `@example.com"}`...)
						req.SetBodyRaw(body)
						if err := c.Do(req, resp); err != nil {
							fail.add("register %s: %v", name, err)
						} else if resp.StatusCode() != fasthttp.StatusCreated {
							fail.add("register %s: got %d %s", name, resp.StatusCode(), resp.Body())
						}
					}
				})
				pr.report(b)
				after := re.bolt.Stats()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
				if commits := after.Commits - before.Commits; commits > 0 {
					b.ReportMetric(float64(after.Writes-before.Writes)/float64(commits), "writes/commit")
				}
				fail.check(b)
			})
		}
	}
}

// writePar is the RunParallel parallelism of BenchmarkWrite: 8 per
// GOMAXPROCS.
const writePar = 8

// writeUsers is the number of users that BenchmarkWrite writes, split
// between its goroutines so that no two write one user at a time.
const writeUsers = 10_000

// writeEnv is L1+L2 over a memory store of writeUsers users, with the
// users' two alternative renderings.
type writeEnv struct {
	e      *env
	emails [2][]string // the two emails of each user, alternately written
	bodies [2][][]byte // the rendered user with each email
}

// BenchmarkWrite measures writes through core.Cache with L1 and L2 on, on
// the memory store so that the cost is the cache's: the L1 invalidation,
// the versioned write to Redis with its barrier read, and the invalidation
// that Redis pushes back because this process had read the key. Each
// user's key was read (and so tracked, and in L1) before each write, so
// every write invalidates; invalidations/op counts the keys that Redis
// invalidated.
//
//   - update: Update the user's email, then Get it: the read must see the
//     new email (read-your-writes), from L2, and fills L1 again.
//   - delete-register: Delete the user, Get it (not found, from the
//     store: L2's "not found" marker answers no read), Create it again,
//     Get it (found, from L2): two writes and two reads per op.
func BenchmarkWrite(b *testing.B) {
	we := memo(b, "write", func() *writeEnv { return newWriteEnv(b) })
	procs := runtime.GOMAXPROCS(0)
	goroutines := writePar * procs
	stride := writeUsers / goroutines
	all := userNames()
	type op func(fail *failures, i, round int)
	ops := []struct {
		name   string
		writes int
		op     op
	}{
		{WriteUpdate, 1, func(fail *failures, i, round int) {
			k := all[i]
			u := users.User{Name: k, Email: we.emails[round&1][i]}
			if _, err := we.e.cache.Update(bg, u); err != nil {
				fail.add("update %s: %v", k, err)
				return
			}
			r, err := we.e.cache.Get(bg, k)
			if err != nil || r.Source != core.SourceL2 || !bytes.Equal(r.Value, we.bodies[round&1][i]) {
				fail.add("get %s after update: %s from %v, %v", k, r.Value, r.Source, err)
			}
		}},
		{WriteDeleteRegister, 2, func(fail *failures, i, round int) {
			k := all[i]
			if err := we.e.cache.Delete(bg, k); err != nil {
				fail.add("delete %s: %v", k, err)
				return
			}
			if r, err := we.e.cache.Get(bg, k); !errors.Is(err, core.ErrNotFound) || r.Source != core.SourceStore {
				fail.add("get %s after delete: %v from %v", k, err, r.Source)
			}
			u := users.User{Name: k, Email: we.emails[round&1][i]}
			if _, err := we.e.cache.Create(bg, u); err != nil {
				fail.add("create %s: %v", k, err)
				return
			}
			r, err := we.e.cache.Get(bg, k)
			if err != nil || r.Source != core.SourceL2 || !bytes.Equal(r.Value, we.bodies[round&1][i]) {
				fail.add("get %s after create: %s from %v, %v", k, r.Value, r.Source, err)
			}
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			var fail failures
			var ids atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(writePar)
			pr := we.e.probe(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := int(ids.Add(1) - 1)
				if g >= goroutines {
					fail.add("more goroutines than %d", goroutines)
					return
				}
				lo, j, round := g*stride, 0, 0
				for pb.Next() {
					o.op(&fail, lo+j, round)
					if j++; j == stride {
						j, round = 0, round+1
					}
				}
			})
			d := pr.report(b)
			b.ReportMetric(float64(d.invalidations)/float64(b.N), "invalidations/op")
			b.ReportMetric(float64(o.writes*b.N)/b.Elapsed().Seconds(), "writes/s")
			fail.check(b)
		})
	}
}

// newWriteEnv builds BenchmarkWrite's env: its own memory store and Redis
// prefix, every user read until L1 holds it.
func newWriteEnv(tb testing.TB) *writeEnv {
	tb.Helper()
	we := &writeEnv{}
	// Its own store: the shared ones are read-only.
	we.e = newEnv(tb, seededMemory(tb, writeUsers), tiers{l1Entries: -1, l2: true, prefix: "bench:write:"})
	all := userNames()[:writeUsers]
	for v, domain := range []string{"@example.org", "@example.com"} {
		we.emails[v] = make([]string, writeUsers)
		we.bodies[v] = make([][]byte, writeUsers)
		for i, k := range all {
			u := users.User{Name: k, Email: k + domain}
			we.emails[v][i], we.bodies[v][i] = u.Email, u.AppendJSON(nil)
		}
	}
	// Store load (fills L2), L2 hit (fills L1), L1 hit.
	path{name: "write", source: core.SourceL1, found: true}.prepare(tb, we.e, all)
	return we
}
