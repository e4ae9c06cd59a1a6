//go:build !race

package main

import (
	"net"
	"testing"
	"time"

	"github.com/tiercache/tiercache/loadtest"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// A request of any op, sent and recorded, allocates nothing once the
// worker's buffers have grown: the load generator's own cost per request
// stays small next to the server's.
func TestRequestAllocs(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Status", "tiercache; hit; detail=l1")
		ctx.SetBodyString(`{"data":{}}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()

	sc := scenario(t,
		loadtest.Op{Op: loadtest.OpGet, Weight: 1, Expect: []int{200}},
		loadtest.Op{Op: loadtest.OpRegister, Target: loadtest.TargetNew, Weight: 1, Expect: []int{200}},
		loadtest.Op{Op: loadtest.OpRegister, Target: loadtest.TargetKey, Weight: 1, Expect: []int{200}},
		loadtest.Op{Op: loadtest.OpUpdate, Weight: 1, Expect: []int{200}},
		loadtest.Op{Op: loadtest.OpDelete, Weight: 1, Expect: []int{200}},
	)
	cfg := testConfig(t, "http://127.0.0.1:1", sc, modelClosed)
	g, err := newGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	w := g.newWorker()
	for range 1000 {
		w.do(time.Time{})
	}
	if allocs := testing.AllocsPerRun(1000, func() { w.do(time.Time{}) }); allocs > 0 {
		t.Errorf("got %v allocs per request; want 0", allocs)
	}
	if errs := w.live.errors.Load(); errs > 0 {
		t.Errorf("%d errors, the first: %s", errs, w.firstErr)
	}
}
