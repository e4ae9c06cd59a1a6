package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/server"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// serveInmem serves srv on an in-memory listener and returns a request
// function; the server stops when the test ends.
func serveInmem(t *testing.T, srv *fasthttp.Server) func(method, path, body string) *fasthttp.Response {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	c := &fasthttp.HostClient{Addr: "x", Dial: func(string) (net.Conn, error) { return ln.Dial() },
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	return func(method, path, body string) *fasthttp.Response {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), new(fasthttp.Response)
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://x" + path)
		if body != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// answer is a response without its Date header.
func answer(r *fasthttp.Response) string {
	var hs []string
	for k, v := range r.Header.All() {
		if string(k) != "Date" {
			hs = append(hs, string(k)+": "+string(v))
		}
	}
	slices.Sort(hs)
	return strings.Join(append([]string{strconv.Itoa(r.StatusCode())}, hs...), "\n") + "\n\n" + string(r.Body())
}

// bare answers each request of the scenarios with the bytes tiercache
// writes (but the Date header): an L1 hit for a GET of a seeded user, and
// the success answers of register, update and delete.
func TestBareWritesTiercacheBytes(t *testing.T) {
	t.Parallel()
	l1, err := ristretto.New(ristretto.Config{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := users.NewCache(memory.New(), core.Config{L1: l1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	real := serveInmem(t, server.New(cache, server.Config{}).HTTPServer())
	bare := serveInmem(t, newServer("example.com"))

	reg := `{"username":"u000042","email":"u000042@example.com"}`
	if want, got := answer(real("POST", "/register", reg)), answer(bare("POST", "/register", reg)); got != want {
		t.Errorf("POST /register: bare answers\n%s\ntiercache\n%s", got, want)
	}
	// Read until tiercache answers from L1.
	var want *fasthttp.Response
	for deadline := time.Now().Add(5 * time.Second); ; {
		want = real("GET", "/user/u000042", "")
		if string(want.Header.Peek("Cache-Status")) == "tiercache; hit; detail=l1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tiercache never answered from L1: %q", want.Header.Peek("Cache-Status"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := answer(bare("GET", "/user/u000042", "")); got != answer(want) {
		t.Errorf("GET /user/u000042: bare answers\n%s\ntiercache\n%s", got, answer(want))
	}
	put := `{"email":"u000042+1@example.com"}`
	if want, got := answer(real("PUT", "/user/u000042", put)), answer(bare("PUT", "/user/u000042", put)); got != want {
		t.Errorf("PUT: bare answers\n%s\ntiercache\n%s", got, want)
	}
	if want, got := answer(real("DELETE", "/user/u000042", "")), answer(bare("DELETE", "/user/u000042", "")); got != want {
		t.Errorf("DELETE: bare answers\n%s\ntiercache\n%s", got, want)
	}
}

func TestBareListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:5099", ":5099", "10.1.2.3:5099"} {
		err := run(context.Background(), []string{"-listen", addr}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("-listen %s: got %v; want a loopback error", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, &out, io.Discard) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serving on 127.0.0.1:0: %v", err)
	}
}
