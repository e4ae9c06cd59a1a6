package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/server"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// httpServer is a fasthttp.Server serving an in-memory listener, with the
// clients that dial it.
type httpServer struct {
	ln      *fasthttputil.InmemoryListener
	srv     *fasthttp.Server
	done    chan struct{}
	mu      sync.Mutex
	clients map[int]*fasthttp.HostClient
}

// serve starts srv on a new in-memory listener; it is shut down when the
// process ends.
func serve(srv *fasthttp.Server) *httpServer {
	s := &httpServer{ln: fasthttputil.NewInmemoryListener(), srv: srv, done: make(chan struct{}),
		clients: make(map[int]*fasthttp.HostClient)}
	go func() {
		defer close(s.done)
		_ = srv.Serve(s.ln)
	}()
	h.onClose(s.close)
	return s
}

func (s *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.ShutdownWithContext(ctx)
	<-s.done
}

// client returns the server's client with up to conns connections, one per
// concurrent request: fasthttp's HostClient as a load generator uses it
// (docs/libraries.md, fasthttp client), waiting for a free connection rather than failing.
func (s *httpServer) client(conns int) *fasthttp.HostClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[conns]; ok {
		return c
	}
	c := &fasthttp.HostClient{
		Addr:               "tiercache.bench",
		Dial:               func(string) (net.Conn, error) { return s.ln.Dial() },
		MaxConns:           conns,
		MaxConnWaitTimeout: 10 * time.Second,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
	}
	s.clients[conns] = c
	return c
}

// tiercacheServer returns the fasthttp.Server of package server over e, as
// cmd/tiercache builds it.
func tiercacheServer(e *env) *fasthttp.Server {
	return server.New(e.cache, server.Config{Logger: logger}).HTTPServer()
}

// bareServer is the ceiling: a fasthttp.Server with server.New's settings
// whose handler answers each path with the bytes in answers (status 200,
// Content-Type, Cache-Status, body), the same bytes as tiercache's L1 hit
// for that path. Finding the answer is one lookup in a Go map, the least
// that a server answering these requests must do.
func bareServer(answers map[string][]byte, cacheStatus []byte) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      bareHandler(answers, cacheStatus),
		Name:                         "tiercache",
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  60 * time.Second,
		MaxRequestBodySize:           64 << 10,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
	}
}

var (
	hdrCacheStatus = []byte("Cache-Status")
	ctJSON         = []byte("application/json")
	hdrNosniff     = []byte("X-Content-Type-Options")
	nosniff        = []byte("nosniff")
)

func bareHandler(answers map[string][]byte, cacheStatus []byte) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentTypeBytes(ctJSON)
		ctx.Response.Header.SetCanonical(hdrNosniff, nosniff)
		ctx.Response.Header.SetCanonical(hdrCacheStatus, cacheStatus)
		ctx.Response.AppendBody(answers[string(ctx.Path())])
	}
}

// newCtx returns a RequestCtx for a GET of path that keeps its buffers
// across Response.Reset, as fasthttp.Server's do.
func newCtx(path string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Init2(nil, nil, false)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	ctx.Request.SetRequestURI(path)
	return ctx
}

// failures collects the answers that were not what a benchmark expects,
// from RunParallel's goroutines, keeping the first for the report.
type failures struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (f *failures) add(format string, args ...any) {
	f.n.Add(1)
	f.once.Do(func() { f.first = fmt.Sprintf(format, args...) })
}

func (f *failures) check(tb testing.TB) {
	tb.Helper()
	if n := f.n.Load(); n > 0 {
		tb.Errorf("%d answers were not as expected; the first: %s", n, f.first)
	}
}
