//go:build !race

package server

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/origintest"
	"github.com/tiercache/tiercache/proxy"
	"github.com/valyala/fasthttp"
)

// newHotProxy returns a proxy Server in front of a new origin whose L1
// (over tier, ristretto when nil) holds the answer of /a.
func newHotProxy(tb testing.TB, tier core.Tier) (*Server, int64) {
	tb.Helper()
	o := origintest.Start(tb)
	v := o.Put("/a", "hello")
	o.Set("/a", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=3600"}}})
	if tier == nil {
		l1, err := ristretto.New(ristretto.Config{MaxBytes: 8 << 20})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(l1.Close)
		tier = l1
	}
	log := slog.New(slog.DiscardHandler)
	p, err := proxy.New(proxy.Config{Origin: o.URL(), Cache: core.Config{L1: tier}, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	s := NewProxy(p, Config{Logger: log})
	// The first GET fills L1 from the origin; the second is a hit.
	for range 2 {
		s.Handler(newCtx("GET", "/a"))
	}
	if n := o.Count("GET", "/a"); n != 1 {
		tb.Fatalf("the origin saw %d GETs of /a; want 1", n)
	}
	return s, v
}

// A hit of the proxy, written through Handler into a reused RequestCtx,
// allocates nothing: a GET, a HEAD, a 304 for If-None-Match and for
// If-Modified-Since, and a probe.
func TestProxyZeroAllocs(t *testing.T) {
	tiers := []struct {
		name  string
		tier  func() core.Tier // nil: ristretto
		exact bool
	}{
		{"map", func() core.Tier { return &mapTier{m: make(map[string][]byte)} }, true},
		{"ristretto", func() core.Tier { return nil }, false},
	}
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			s, v := newHotProxy(t, tier.tier())
			rows := []struct {
				name        string
				method      string
				path        string
				header      []string
				status      int
				body        string
				cacheStatus string // prefix
			}{
				{"GET hit", "GET", "/a", nil, 200, "hello", "tiercache; hit; detail=l1; ttl="},
				{"HEAD hit", "HEAD", "/a", nil, 200, "hello", "tiercache; hit; detail=l1; ttl="},
				{"304 If-None-Match", "GET", "/a", []string{"If-None-Match", origintest.ETag(v)}, 304, "", "tiercache; hit; detail=l1; ttl="},
				{"304 If-Modified-Since", "GET", "/a", []string{"If-Modified-Since", "Sun, 06 Nov 2044 08:49:37 GMT"}, 304, "", "tiercache; hit; detail=l1; ttl="},
				{"healthz", "GET", "/_tiercache/healthz", nil, 200, `{"status":"ok"}` + "\n", ""},
			}
			for _, r := range rows {
				t.Run(r.name, func(t *testing.T) {
					ctx := newCtx(r.method, r.path)
					for i := 0; i < len(r.header); i += 2 {
						ctx.Request.Header.Set(r.header[i], r.header[i+1])
					}
					serve := func() {
						ctx.Response.Reset()
						s.Handler(ctx)
					}
					serve()
					if got := ctx.Response.StatusCode(); got != r.status {
						t.Errorf("got status %v; want %v", got, r.status)
					}
					if got := string(ctx.Response.Body()); got != r.body {
						t.Errorf("got body %q; want %q", got, r.body)
					}
					if got := string(ctx.Response.Header.Peek("Cache-Status")); !strings.HasPrefix(got, r.cacheStatus) || (r.cacheStatus == "") != (got == "") {
						t.Errorf("got Cache-Status %q; want %q…", got, r.cacheStatus)
					}
					wantNoAllocs(t, serve, tier.exact)
				})
			}
		})
	}
}

// BenchmarkProxyL1Hit measures a GET that the proxy answers from L1.
func BenchmarkProxyL1Hit(b *testing.B) {
	s, _ := newHotProxy(b, nil)
	b.ReportAllocs()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx("GET", "/a")
		for pb.Next() {
			ctx.Response.Reset()
			s.Handler(ctx)
		}
	})
	b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

var _ fasthttp.RequestHandler = (*Server)(nil).Handler
