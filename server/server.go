package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tiercache/tiercache/proxy"
	"github.com/tiercache/tiercache/users"
	"github.com/valyala/fasthttp"
)

// maxBodySize is the request body limit of docs/api.md.
const maxBodySize = 64 << 10

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// ReadTimeout bounds reading one request, headers and body, so that a
	// slow client cannot hold a connection forever. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 10s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no request for
	// this long. Default 60s.
	IdleTimeout time.Duration
	// MaxConns caps the connections served at once (fasthttp's
	// Concurrency): one more is answered 503 and closed at once. Keep it
	// below the process's file descriptor limit, less what the store, Redis
	// and logs need, so that accepting a connection never fails for want of
	// a descriptor. Once more than MaxConns - MaxConns/8 are open, each new
	// connection closes the one idle longest (see Serve), so that idle
	// connections, not clients in the middle of a request, make room.
	// Default 0: fasthttp's 262,144 and no shedding.
	MaxConns int
	// MaxBodyBytes bounds a request's body. Default 64 KiB for the user
	// API, 8 MiB for the proxy.
	MaxBodyBytes int
	// Logger receives failures (503s, panics, accept errors). Errors of a
	// client's connection (a malformed request, a timeout) are logged at
	// debug level, without the request's bytes. Default slog.Default().
	Logger *slog.Logger
}

// Server answers the routes of docs/api.md from a users.Cache, or, made by
// NewProxy, every request through a proxy.Proxy. It is safe for concurrent
// use.
type Server struct {
	cache *users.Cache // the user API's; nil for a proxy
	proxy *proxy.Proxy // nil for the user API
	log   *slog.Logger
	srv   *fasthttp.Server
	conns *connTracker
}

// New returns a Server over cache. Zero or negative durations in cfg take
// their defaults. It panics if cache is nil.
func New(cache *users.Cache, cfg Config) *Server {
	if cache == nil {
		panic("server: nil cache")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = maxBodySize
	}
	s := newServer(cfg)
	s.cache = cache
	return s
}

// NewProxy returns a Server that answers every request through p, but the
// paths under /_tiercache/, which are its probes (healthz, readyz,
// metrics). It panics if p is nil.
func NewProxy(p *proxy.Proxy, cfg Config) *Server {
	if p == nil {
		panic("server: nil proxy")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	s := newServer(cfg)
	s.proxy = p
	s.srv.NoDefaultContentType = true // an origin's answer without one keeps none
	return s
}

func newServer(cfg Config) *Server {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{log: cfg.Logger, conns: &connTracker{}}
	if cfg.MaxConns > 0 {
		s.conns.shedAt = cfg.MaxConns - max(1, cfg.MaxConns/8)
	}
	s.srv = &fasthttp.Server{
		Handler:            s.Handler,
		ErrorHandler:       s.errorHandler,
		Name:               "tiercache",
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		MaxRequestBodySize: cfg.MaxBodyBytes,
		// No route takes a form: without this, fasthttp parses a
		// multipart/form-data body before the handler runs, and a broken
		// one would get the ErrorHandler's 400 instead of our 415.
		DisablePreParseMultipartForm: true,
		// Tell keep-alive clients to go away during a graceful shutdown.
		CloseOnShutdown: true,
		Concurrency:     cfg.MaxConns,
		ConnState:       s.conns.connState,
		// No handler calls RequestCtx.Time: do not read the clock for it
		// on every request. fasthttp then keeps the time of a connection's
		// last request, which Shutdown's sweep of idle connections reads,
		// from the clock it reads once a second for the Date header.
		LazyRequestTime: true,
		// Keep request bytes out of fasthttp's error texts, which a client
		// controls; fasthttpLogger does not log those texts either.
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{cfg.Logger},
	}
	return s
}

// HTTPServer returns the fasthttp.Server that serves s.Handler: named
// "tiercache", with Config's timeouts and MaxConns, a 64 KiB body limit and
// an ErrorHandler that answers unreadable requests in JSON (413 for an
// oversized body, 431 for a header beyond the 4 KiB read buffer, 408 for a
// request that did not arrive within ReadTimeout, 400 otherwise). It is the
// same Server on every call, so that the caller can Shutdown it; serve it
// with s.Serve, which adds shedding and accept retries.
func (s *Server) HTTPServer() *fasthttp.Server { return s.srv }

// background is the context of every cache call; see the package
// documentation for why it is never the RequestCtx.
var background = context.Background()

// Header names in canonical form, and values, for SetCanonical: setting
// them neither normalizes nor converts. Read-only; fasthttp copies them.
var (
	hdrAllow       = []byte("Allow")
	hdrCacheStatus = []byte("Cache-Status")
	hdrLocation    = []byte("Location")
	hdrRetryAfter  = []byte("Retry-After")
	hdrNosniff     = []byte("X-Content-Type-Options")

	ctJSON     = []byte("application/json")
	retryAfter = []byte("1")
	// nosniff keeps a browser from reading a JSON answer, which may carry
	// an email the client chose, as HTML or script.
	nosniff = []byte("nosniff")

	allowUser     = []byte("GET, HEAD, PUT, DELETE, OPTIONS")
	allowRegister = []byte("POST, OPTIONS")
	allowProbe    = []byte("GET, HEAD, OPTIONS")
	allowServer   = []byte("GET, HEAD, POST, PUT, DELETE, OPTIONS") // OPTIONS *

	// RFC 9211 Cache-Status values. The store load is "stored" because the
	// cache keeps what it loaded, a "not found" included.
	csHitL1  = []byte("tiercache; hit; detail=l1")
	csHitL2  = []byte("tiercache; hit; detail=l2")
	csStored = []byte("tiercache; fwd=miss; stored")
	csMiss   = []byte("tiercache; fwd=miss")
	csBypass = []byte("tiercache; fwd=bypass")
	csMethod = []byte("tiercache; fwd=method")
)

const userPrefix = "/user/"

// Handler serves one request. It routes on the path as sent, before
// percent-decoding and dot-segment removal, so that an escape such as %2F
// can never turn one route into another: /user/%2e%2e%2fmetrics is the user
// "../metrics" (an invalid name, so 404), not /metrics. Only the name in
// /user/{username} is percent-decoded (see user). It recovers a panic into
// a 500.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	defer s.recoverPanic(ctx)
	if s.proxy != nil {
		s.proxied(ctx)
		return
	}
	setCommonHeaders(ctx)
	path := ctx.URI().PathOriginal()
	switch {
	case bytes.HasPrefix(path, []byte(userPrefix)):
		s.user(ctx, path[len(userPrefix):])
	case string(path) == "/register":
		switch {
		case ctx.IsOptions():
			options(ctx, allowRegister)
		case !ctx.IsPost():
			methodNotAllowed(ctx, allowRegister)
		default:
			s.register(ctx)
		}
	case string(path) == "/healthz", string(path) == "/readyz", string(path) == "/metrics":
		switch {
		case ctx.IsOptions():
			options(ctx, allowProbe)
		case !isGetOrHead(ctx):
			methodNotAllowed(ctx, allowProbe)
		case string(path) == "/healthz":
			ctx.Response.AppendBodyString(`{"status":"ok"}` + "\n")
		case string(path) == "/readyz":
			s.ready(ctx)
		default:
			s.metrics(ctx)
		}
	case string(path) == "*" && ctx.IsOptions():
		options(ctx, allowServer)
	default:
		writeError(ctx, fasthttp.StatusNotFound, "Not found.")
	}
}

// probePrefix is the path of a proxy's own routes.
const probePrefix = "/_tiercache/"

// proxied serves a request of a proxy: its probes, or the origin's routes.
func (s *Server) proxied(ctx *fasthttp.RequestCtx) {
	path := ctx.URI().PathOriginal()
	if !bytes.HasPrefix(path, []byte(probePrefix)) {
		s.proxy.Handler(ctx)
		return
	}
	setCommonHeaders(ctx)
	switch name := string(path[len(probePrefix):]); {
	case name != "healthz" && name != "readyz" && name != "metrics":
		writeError(ctx, fasthttp.StatusNotFound, "Not found.")
	case ctx.IsOptions():
		options(ctx, allowProbe)
	case !isGetOrHead(ctx):
		methodNotAllowed(ctx, allowProbe)
	case name == "healthz":
		ctx.Response.AppendBodyString(`{"status":"ok"}` + "\n")
	case name == "readyz":
		var buf [64]byte
		ctx.Response.AppendBody(users.AppendJSONString(append(buf[:0], `{"redis":`...), s.proxy.Ready(background)))
		ctx.Response.AppendBodyString(`,"status":"ready"}` + "\n")
	default:
		s.metrics(ctx)
	}
}

// setCommonHeaders sets the headers of every answer: a JSON Content-Type
// and nosniff. Both are constants that fasthttp copies: no allocation.
func setCommonHeaders(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetCanonical(hdrNosniff, nosniff)
}

// options answers an OPTIONS request: 204 with the methods of the route in
// Allow, and no body, hence no Content-Type.
func options(ctx *fasthttp.RequestCtx, allow []byte) {
	ctx.Response.Header.SetCanonical(hdrAllow, allow)
	ctx.Response.Header.SetContentTypeBytes(nil)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func isGetOrHead(ctx *fasthttp.RequestCtx) bool { return ctx.IsGet() || ctx.IsHead() }

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow []byte) {
	ctx.Response.Header.SetCanonical(hdrAllow, allow)
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "Method not allowed.")
}

// ready answers /readyz from Cache.Ready: 503 while the store does not answer.
func (s *Server) ready(ctx *fasthttp.RequestCtx) {
	l2, storeErr := s.cache.Ready(background)
	tail := `,"status":"ready","store":"ok"}` + "\n"
	if storeErr != nil {
		s.log.Warn("not ready: store unavailable", "err", storeErr)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		tail = `,"status":"unready","store":"unavailable"}` + "\n"
	}
	var buf [64]byte
	ctx.Response.AppendBody(users.AppendJSONString(append(buf[:0], `{"redis":`...), l2))
	ctx.Response.AppendBodyString(tail)
}

// recoverPanic turns a panic of the handler into a 500 and one log line.
// fasthttp recovers nothing: an unrecovered panic ends the process.
func (s *Server) recoverPanic(ctx *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("panic serving request",
		"method", string(ctx.Method()), "path", string(ctx.Path()),
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	ctx.Response.Reset()
	setCommonHeaders(ctx)
	writeError(ctx, fasthttp.StatusInternalServerError, "Internal server error.")
}

// errorHandler answers a request that fasthttp could not read, in JSON:
// 413 for an oversized body, 431 for a header beyond the read buffer, 408
// for a request cut short by ReadTimeout, 400 for anything else (a
// malformed request line or header, a broken chunked body). A connection
// that sent nothing before ReadTimeout ran out had no request to answer: it
// is closed without a word, so that a client about to send one never reads
// an answer to a request it did not make.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	setCommonHeaders(ctx)
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		// The header was read, so the path is known; every answer on
		// /user/{username} carries a Cache-Status.
		if bytes.HasPrefix(ctx.URI().PathOriginal(), []byte(userPrefix)) {
			ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
		}
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "Request body too large.")
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "Request header too large.")
	case isTimeout(err):
		if c, ok := ctx.Conn().(*conn); ok && !c.read {
			// fasthttp writes the answer into a closed connection, which
			// fails silently, and closes it again.
			_ = c.Conn.Close()
			return
		}
		writeError(ctx, fasthttp.StatusRequestTimeout, "Request timeout.")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "Bad request.")
	}
}

// writeError answers {"error":msg}. The body is appended to the response's
// buffer; a short msg is escaped on the stack, so a 404 allocates nothing.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	var buf [128]byte
	b := append(buf[:0], `{"error":`...)
	b = users.AppendJSONString(b, msg)
	b = append(b, "}\n"...)
	ctx.Response.AppendBody(b)
}

// unavailable answers 503 for a failure of the store or the cache.
func unavailable(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetCanonical(hdrRetryAfter, retryAfter)
	writeError(ctx, fasthttp.StatusServiceUnavailable, "Service unavailable, try again.")
}

// fasthttpLogger sends fasthttp's own messages to slog. The error of a
// client's connection (a malformed or oversized request, a timeout, a reset)
// is the client's doing: it goes to debug level as a fixed text, because
// fasthttp's error texts may quote what the client sent (header values
// included) and any client can cause any number of them. Other messages
// (accept errors, the Concurrency limit) are about the server: warnings.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	if strings.HasPrefix(format, "error when serving connection") {
		attrs := []any{"component", "fasthttp"}
		if len(args) == 3 {
			attrs = append(attrs, "remote", fmt.Sprint(args[1]))
			if err, ok := args[2].(error); ok {
				attrs = append(attrs, "reason", connErrorReason(err))
			}
		}
		f.l.Debug("client connection error", attrs...)
		return
	}
	f.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "fasthttp")
}

// connErrorReason names the kind of a connection error without its text.
func connErrorReason(err error) string {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		return "request header too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "request body too large"
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return "malformed request or broken connection"
}

// isTimeout reports whether err is a deadline's, from a socket or from
// fasthttputil's in-memory pipes (whose error is no net.Error).
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
