package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tiercache/tiercache/core"
	"github.com/valyala/fasthttp"
)

// maxBodySize is the request body limit of SPEC.md.
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
	// Logger receives failures (503s, panics, fasthttp's connection errors).
	// Default slog.Default().
	Logger *slog.Logger
}

// Server answers the routes of SPEC.md from a core.Cache. It is safe for
// concurrent use.
type Server struct {
	cache *core.Cache
	log   *slog.Logger
	srv   *fasthttp.Server
}

// New returns a Server over cache. Zero or negative durations in cfg take
// their defaults. It panics if cache is nil.
func New(cache *core.Cache, cfg Config) *Server {
	if cache == nil {
		panic("server: nil cache")
	}
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
	s := &Server{cache: cache, log: cfg.Logger}
	s.srv = &fasthttp.Server{
		Handler:            s.Handler,
		ErrorHandler:       s.errorHandler,
		Name:               "tiercache",
		ReadTimeout:        cfg.ReadTimeout,
		WriteTimeout:       cfg.WriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		MaxRequestBodySize: maxBodySize,
		// No route takes a form: without this, fasthttp parses a
		// multipart/form-data body before the handler runs, and a broken
		// one would get the ErrorHandler's 400 instead of our 415.
		DisablePreParseMultipartForm: true,
		// Tell keep-alive clients to go away during a graceful shutdown.
		CloseOnShutdown: true,
		Logger:          fasthttpLogger{cfg.Logger},
	}
	return s
}

// HTTPServer returns the fasthttp.Server that serves s.Handler: named
// "tiercache", with Config's timeouts, a 64 KiB body limit and an
// ErrorHandler that answers unreadable requests in JSON (413 for an
// oversized body, 400 otherwise). It is the same Server on every call, so
// that the caller can Serve and Shutdown it.
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

	ctJSON     = []byte("application/json")
	retryAfter = []byte("1")

	allowUser     = []byte("GET, HEAD, PUT, DELETE")
	allowRegister = []byte("POST")
	allowProbe    = []byte("GET, HEAD")

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

// Handler serves one request. It routes on the decoded, normalized path and
// recovers a panic into a 500.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	defer s.recoverPanic(ctx)
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, []byte(userPrefix)):
		s.user(ctx, path[len(userPrefix):])
	case string(path) == "/register":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, allowRegister)
			return
		}
		s.register(ctx)
	case string(path) == "/healthz":
		if !isGetOrHead(ctx) {
			methodNotAllowed(ctx, allowProbe)
			return
		}
		ctx.Response.AppendBodyString(`{"status":"ok"}` + "\n")
	case string(path) == "/readyz":
		if !isGetOrHead(ctx) {
			methodNotAllowed(ctx, allowProbe)
			return
		}
		s.ready(ctx)
	case string(path) == "/metrics":
		if !isGetOrHead(ctx) {
			methodNotAllowed(ctx, allowProbe)
			return
		}
		s.metrics(ctx)
	default:
		writeError(ctx, fasthttp.StatusNotFound, "Not found.")
	}
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
	ctx.Response.AppendBody(core.AppendJSONString(append(buf[:0], `{"redis":`...), l2))
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
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	writeError(ctx, fasthttp.StatusInternalServerError, "Internal server error.")
}

// errorHandler answers a request that fasthttp could not read, in JSON.
// Only an oversized body has its own status; everything else (a malformed
// request line or header, headers beyond the read buffer, a broken chunked
// body, a read timeout) is a 400.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		// The header was read, so the path is known; every answer on
		// /user/{username} carries a Cache-Status.
		if bytes.HasPrefix(ctx.Path(), []byte(userPrefix)) {
			ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
		}
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "Request body too large.")
		return
	}
	writeError(ctx, fasthttp.StatusBadRequest, "Bad request.")
}

// writeError answers {"error":msg}. The body is appended to the response's
// buffer; a short msg is escaped on the stack, so a 404 allocates nothing.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	var buf [128]byte
	b := append(buf[:0], `{"error":`...)
	b = core.AppendJSONString(b, msg)
	b = append(b, "}\n"...)
	ctx.Response.AppendBody(b)
}

// unavailable answers 503 for a failure of the store or the cache.
func unavailable(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetCanonical(hdrRetryAfter, retryAfter)
	writeError(ctx, fasthttp.StatusServiceUnavailable, "Service unavailable, try again.")
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "fasthttp")
}
