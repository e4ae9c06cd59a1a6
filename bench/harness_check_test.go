package bench

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/valyala/fasthttp"
)

// These tests check the harness, not tiercache: that each benchmark measures
// what it claims. `go test -C bench .` runs them and no benchmark.

// recordingTier is a core.Tier that keeps what it is given.
type recordingTier struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (t *recordingTier) Get(_ context.Context, key string) ([]byte, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	return v, ok, nil
}

func (t *recordingTier) Set(_ context.Context, key string, val []byte, _ time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[key] = bytes.Clone(val)
	return nil
}

func (t *recordingTier) Del(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// The L1 budgets of BenchmarkConfigs assume that every user costs
// entryBytes, as the ristretto tier charges it: len(key) + len(value) +
// EntryOverhead, where the value is what core.Local stores.
func TestEntryBytes(t *testing.T) {
	tier := &recordingTier{m: make(map[string][]byte)}
	local := core.NewLocal(tier)
	for _, i := range []int{0, 123_456, maxUsers - 1} {
		name := userNames()[i]
		body := userOf(name).AppendJSON(nil)
		if !local.Fill(name, local.Begin(name), body, true, time.Hour) {
			t.Fatal("fill refused")
		}
		if got := len(name) + len(tier.m[name]) + ristretto.EntryOverhead; got != entryBytes {
			t.Errorf("user %s costs %d bytes in L1; entryBytes is %d", name, got, entryBytes)
		}
	}
}

// Each path answers from its tier on every read, and the Redis paths reach
// redis-server as claimed: one command per read.
func TestPaths(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			e, keys := p.env(t), p.keys()
			p.prepare(t, e, keys)
			keys = keys[:200]
			pr := e.probe(t)
			for _, k := range keys {
				r, err := e.cache.Get(bg, k)
				if r.Source != p.source || (err == nil) != p.found {
					t.Fatalf("%s: got %v, %v; want source %v, found %v", k, r.Source, err, p.source, p.found)
				}
			}
			d := pr.delta(t)
			if d.StoreLoads != 0 && p.source != core.SourceStore {
				t.Errorf("got %d store loads; want 0", d.StoreLoads)
			}
			if e.l2 != nil {
				// Background PINGs of the kept envs may add a few.
				if perRead := float64(d.redisCmds) / float64(len(keys)); perRead < p.redisCmds || perRead > p.redisCmds+0.05 {
					t.Errorf("got %.3f Redis commands per read; want %v", perRead, p.redisCmds)
				}
			}
		})
	}
}

// The bare server answers the L1 hits' requests with the same bytes as
// tiercache: status, headers (but Date) and body.
func TestBareAnswersAreTheL1Answers(t *testing.T) {
	e := envL1L2(t)
	keys := hotKeys()[:20]
	l1Hit.prepare(t, e, keys)
	real := serve(tiercacheServer(e))
	get := func(c *fasthttp.HostClient, path string) *fasthttp.Response {
		req, resp := fasthttp.AcquireRequest(), new(fasthttp.Response)
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI("http://tiercache.bench" + path)
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ans := answers(t, keys, csL1, func(path string) (int, []byte, []byte) {
		r := get(real.client(1), path)
		return r.StatusCode(), r.Header.Peek("Cache-Status"), r.Body()
	})
	bare := serve(bareServer(ans, []byte(csL1)))
	headers := func(r *fasthttp.Response) []string {
		var hs []string
		for k, v := range r.Header.All() {
			if string(k) != "Date" {
				hs = append(hs, string(k)+": "+string(v))
			}
		}
		slices.Sort(hs)
		return hs
	}
	for _, k := range keys {
		want, got := get(real.client(1), "/user/"+k), get(bare.client(1), "/user/"+k)
		if got.StatusCode() != want.StatusCode() || !slices.Equal(headers(got), headers(want)) || !bytes.Equal(got.Body(), want.Body()) {
			t.Errorf("GET /user/%s: bare answers %d %q %q; tiercache %d %q %q", k,
				got.StatusCode(), headers(got), got.Body(), want.StatusCode(), headers(want), want.Body())
		}
	}
}

// The workloads have the skew they are named for.
func TestWorkloads(t *testing.T) {
	const n, draws = 100_000, 200_000
	for _, tc := range []struct {
		w        workload
		min, max float64 // share of draws that go to the top 1% of users
	}{
		{workload{dist: "uniform", users: n}, 0.009, 0.011},
		{workload{dist: "zipf1.01", s: 1.01, users: n}, 0.55, 0.70},
		{workload{dist: "zipf1.2", s: 1.2, users: n}, 0.80, 0.92},
	} {
		s, top := tc.w.sampler(1), 0
		for range draws {
			if s.next() < n/100 {
				top++
			}
		}
		if got := float64(top) / draws; got < tc.min || got > tc.max {
			t.Errorf("%s: top 1%% of users got %.3f of the reads; want %v to %v", tc.w.dist, got, tc.min, tc.max)
		}
	}
}
