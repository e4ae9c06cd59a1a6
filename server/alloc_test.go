//go:build !race

package server

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/valyala/fasthttp"
)

// newHotServer returns a Server whose L1 (over tier, ristretto when nil)
// holds kiran and the negative entry of nobody.
func newHotServer(tb testing.TB, tier core.Tier) *Server {
	tb.Helper()
	cache, _ := newCache(tb, envConfig{tier: tier})
	if _, err := cache.Create(context.Background(), users.User{Name: "kiran", Email: "kiran@example.com"}); err != nil {
		tb.Fatal(err)
	}
	s := New(cache, Config{Logger: slog.New(slog.DiscardHandler)})
	for _, path := range []string{"/user/kiran", "/user/nobody"} {
		// The first read loads from the store and fills L1; ristretto's Set
		// waits, so the second read is an L1 hit.
		for range 2 {
			s.Handler(newCtx("GET", path))
		}
	}
	return s
}

// mapTier is a core.Tier in a map that allocates nothing on Get, unlike
// ristretto, whose Get allocates a 64-entry access buffer now and then.
type mapTier struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (t *mapTier) Get(_ context.Context, key string) ([]byte, bool, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.m[key]
	return v, ok, nil
}

func (t *mapTier) Set(_ context.Context, key string, val []byte, _ time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[strings.Clone(key)] = bytes.Clone(val)
	return nil
}

func (t *mapTier) Del(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// mallocs counts the heap allocations of n calls of f exactly, where
// testing.AllocsPerRun rounds the average down.
func mallocs(n int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// newCtx returns a RequestCtx for method and path that keeps its response
// body buffer across Response.Reset, as fasthttp.Server's do unless
// ReduceMemoryUsage is set.
func newCtx(method, path string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init2(nil, nil, false)
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	return ctx
}

// TestZeroAllocs holds the hot path to no allocations: an answer from L1,
// written through Handler into a reused RequestCtx as the server reuses it.
// With the ristretto L1 it is 0 per request as testing.AllocsPerRun counts
// (ristretto allocates about once per hundred Gets); with a map L1 it is
// exactly 0 in 10,000 requests, which is the handler's and core's own share.
func TestZeroAllocs(t *testing.T) {
	// Each L1 in its own subtest, so that ristretto's goroutines are gone
	// while mallocs counts the process's allocations.
	tiers := []struct {
		name  string
		tier  func() core.Tier // nil: ristretto
		exact bool             // count every allocation, not the rounded average
	}{
		{"map", func() core.Tier { return &mapTier{m: make(map[string][]byte)} }, true},
		{"ristretto", func() core.Tier { return nil }, false},
	}
	rows := []struct {
		method, path string
		status       int
		want         string
		cacheStatus  string
	}{
		{"GET", "/user/kiran", 200, fromCache, csL1},
		{"HEAD", "/user/kiran", 200, fromCache, csL1}, // the server drops the body when writing
		{"GET", "/user/nobody", 404, userNotFound, csL1},
		{"GET", "/user/a%2Fb", 404, userNotFound, csBypas},
		{"GET", "/user/%2e%2e%2fmetrics", 404, userNotFound, csBypas},
		{"GET", "/healthz", 200, `{"status":"ok"}` + "\n", ""},
		{"GET", "/nope", 404, notFound, ""},
	}
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			s := newHotServer(t, tier.tier())
			for _, r := range rows {
				t.Run(r.method+" "+r.path, func(t *testing.T) {
					ctx := newCtx(r.method, r.path)
					serve := func() {
						ctx.Response.Reset()
						s.Handler(ctx)
					}
					serve()
					if got := ctx.Response.StatusCode(); got != r.status {
						t.Errorf("got status %v; want %v", got, r.status)
					}
					if got := string(ctx.Response.Body()); got != r.want {
						t.Errorf("got body %q; want %q", got, r.want)
					}
					if got := string(ctx.Response.Header.Peek("Cache-Status")); got != r.cacheStatus {
						t.Errorf("got Cache-Status %q; want %q", got, r.cacheStatus)
					}
					wantNoAllocs(t, serve, tier.exact)
				})
			}
		})
	}
}

// wantNoAllocs checks that serve allocates nothing on average, and, with
// an exact L1 (one that allocates nothing itself), not once in a long run.
func wantNoAllocs(t *testing.T, serve func(), exact bool) {
	t.Helper()
	if got := testing.AllocsPerRun(1000, serve); got != 0 {
		t.Errorf("got %v allocs per request; want 0", got)
	}
	if exact {
		if got := mallocs(10000, serve); got != 0 {
			t.Errorf("got %v allocs in 10000 requests; want 0", got)
		}
	}
}

// BenchmarkGetL1Hit measures GET /user/kiran answered from L1 by Handler,
// against a bare handler that writes the same answer from constants in the
// same run.
func BenchmarkGetL1Hit(b *testing.B) {
	s := newHotServer(b, nil)
	cacheStatus, body := []byte(csL1), []byte(fromCache)
	bare := func(ctx *fasthttp.RequestCtx) {
		setCommonHeaders(ctx)
		ctx.Response.Header.SetCanonical(hdrCacheStatus, cacheStatus)
		ctx.Response.AppendBody(body)
	}
	for _, bm := range []struct {
		name    string
		handler fasthttp.RequestHandler
	}{
		{"handler", s.Handler},
		{"bare", bare},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := newCtx("GET", "/user/kiran")
				for pb.Next() {
					ctx.Response.Reset()
					bm.handler(ctx)
				}
			})
		})
	}
}
