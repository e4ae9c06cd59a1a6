// Command bare is the ceiling of the load tests: a fasthttp server with
// tiercache's server settings that answers every request of the scenarios
// with the bytes tiercache writes when everything goes well, doing nothing
// else. A GET of /user/{name} gets what tiercache answers for an L1 hit of
// a seeded user (name@<email_domain of scenarios.json>): status 200,
// Content-Type: application/json, Cache-Status: tiercache; hit; detail=l1,
// and {"data":{"email":…,"username":…},"message":"User '…' found in cache."}.
// Registrations, updates and deletes get SPEC's success answers.
//
// loadgen against bare, in the same run as against tiercache, is the
// denominator of DESIGN's "≥ 0.9× the requests/s of a bare fasthttp server".
// It listens on loopback only. SIGINT or SIGTERM stops it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tiercache/tiercache/loadtest"
	"github.com/tiercache/tiercache/users"
	"github.com/valyala/fasthttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(2)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5099", "loopback address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", *listen, err)
	}
	if err := loadtest.CheckLoopback(host); err != nil {
		return fmt.Errorf("-listen %q: %w", *listen, err)
	}
	file, err := loadtest.Load()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	srv := newServer(file.Users.EmailDomain)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "bare serving on %s\n", ln.Addr())
	select {
	case err := <-served:
		return fmt.Errorf("cannot serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.ShutdownWithContext(sctx)
}

// newServer returns a fasthttp.Server with server.New's settings (name,
// timeouts, body limit) whose handler writes tiercache's success answers.
func newServer(emailDomain string) *fasthttp.Server {
	h := &handler{domain: emailDomain}
	return &fasthttp.Server{
		Handler:                      h.serve,
		Name:                         "tiercache",
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  60 * time.Second,
		MaxRequestBodySize:           64 << 10,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
	}
}

type handler struct{ domain string }

// Header names and values, as package server writes them.
var (
	hdrCacheStatus = []byte("Cache-Status")
	hdrLocation    = []byte("Location")
	hdrNosniff     = []byte("X-Content-Type-Options")
	nosniff        = []byte("nosniff")
	ctJSON         = []byte("application/json")
	csHitL1        = []byte("tiercache; hit; detail=l1")
	csBypass       = []byte("tiercache; fwd=bypass")
	csMethod       = []byte("tiercache; fwd=method")
	userPrefix     = []byte("/user/")
)

func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(ctJSON)
	ctx.Response.Header.SetCanonical(hdrNosniff, nosniff)
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, userPrefix):
		h.user(ctx, path[len(userPrefix):])
	case string(path) == "/register" && ctx.IsPost():
		h.register(ctx)
	case string(path) == "/healthz":
		ctx.Response.AppendBodyString(`{"status":"ok"}` + "\n")
	case string(path) == "/readyz":
		ctx.Response.AppendBodyString(`{"redis":"disabled","status":"ready","store":"ok"}` + "\n")
	default:
		writeError(ctx, fasthttp.StatusNotFound, "Not found.")
	}
}

// user answers /user/{name}: an L1 hit for GET and HEAD, success for PUT
// and DELETE. It allocates nothing for a GET.
func (h *handler) user(ctx *fasthttp.RequestCtx, name []byte) {
	if !loadtest.ValidName(name) {
		ctx.Response.Header.SetCanonical(hdrCacheStatus, csBypass)
		writeError(ctx, fasthttp.StatusNotFound, "User not found.")
		return
	}
	r := &ctx.Response
	switch {
	case ctx.IsGet() || ctx.IsHead():
		r.Header.SetCanonical(hdrCacheStatus, csHitL1)
		r.AppendBodyString(`{"data":{"email":"`)
		r.AppendBody(name)
		r.AppendBodyString("@")
		r.AppendBodyString(h.domain)
		r.AppendBodyString(`","username":"`)
		r.AppendBody(name)
		r.AppendBodyString(`"},"message":"User '`)
		r.AppendBody(name)
		r.AppendBodyString(`' found in cache."}` + "\n")
	case ctx.IsPut():
		r.Header.SetCanonical(hdrCacheStatus, csMethod)
		var body struct {
			Email string `json:"email"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &body); err != nil || body.Email == "" {
			writeError(ctx, fasthttp.StatusBadRequest, "Malformed JSON body.")
			return
		}
		writeUser(ctx, users.User{Name: string(name), Email: body.Email}, "' updated.\"}\n")
	case ctx.IsDelete():
		r.Header.SetCanonical(hdrCacheStatus, csMethod)
		r.AppendBodyString(`{"message":"User '`)
		r.AppendBody(name)
		r.AppendBodyString(`' deleted."}` + "\n")
	default:
		r.Header.SetCanonical(hdrCacheStatus, csMethod)
		r.Header.Set("Allow", "GET, HEAD, PUT, DELETE, OPTIONS")
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "Method not allowed.")
	}
}

// register answers POST /register with 201, whatever was registered before.
func (h *handler) register(ctx *fasthttp.RequestCtx) {
	var body struct {
		Username string `json:"username"`
		Email    string `json:"email"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &body); err != nil || !loadtest.ValidName(body.Username) || body.Email == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "Malformed JSON body.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.Response.Header.SetCanonical(hdrLocation, []byte("/user/"+body.Username))
	writeUser(ctx, users.User{Name: body.Username, Email: body.Email}, "' registered successfully.\"}\n")
}

// writeUser writes {"data":<user>,"message":"User '<name><tail>, as package
// server does.
func writeUser(ctx *fasthttp.RequestCtx, u users.User, tail string) {
	r := &ctx.Response
	r.AppendBodyString(`{"data":`)
	r.AppendBody(u.AppendJSON(nil))
	r.AppendBodyString(`,"message":"User '`)
	r.AppendBodyString(u.Name)
	r.AppendBodyString(tail)
}

func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.Response.AppendBody(users.AppendJSONString([]byte(`{"error":`), msg))
	ctx.Response.AppendBodyString("}\n")
}
