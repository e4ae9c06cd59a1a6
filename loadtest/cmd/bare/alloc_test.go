//go:build !race

package main

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// A GET of bare allocates nothing in the handler, as tiercache's L1 hit.
func TestBareGetAllocs(t *testing.T) {
	h := &handler{domain: "example.com"}
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	ctx.Request.SetRequestURI("/user/u000042")
	h.serve(ctx)
	allocs := testing.AllocsPerRun(100, func() {
		ctx.Response.Reset()
		h.serve(ctx)
	})
	if allocs > 0 {
		t.Errorf("got %v allocs per GET; want 0", allocs)
	}
	if !bytes.HasSuffix(ctx.Response.Body(), []byte("' found in cache.\"}\n")) {
		t.Errorf("body %q", ctx.Response.Body())
	}
}
