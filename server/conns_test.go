package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"
)

// serveInmemory serves s with Serve on an in-memory listener until the test
// ends.
func serveInmemory(t *testing.T, s *Server) *fasthttputil.InmemoryListener {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.HTTPServer().Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln
}

// closedWithin reports whether the server closes c, without sending
// anything, within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && errors.Is(err, io.EOF)
}

// healthz sends GET /healthz on c and reports whether it got a 200.
func healthz(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return false
	}
	b := make([]byte, 12)
	_, err := io.ReadFull(c, b)
	return err == nil && string(b) == "HTTP/1.1 200"
}

// settle waits until the tracker counts open connections, of which idle
// are idle.
func settle(t *testing.T, tr *connTracker, open, idle int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tr.mu.Lock()
		o, i := tr.open, 0
		for c := tr.head; c != nil; c = c.next {
			i++
		}
		tr.mu.Unlock()
		if o == open && i == idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d open, %d idle connections; want %d and %d", o, i, open, idle)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestShedIdleConnections: with MaxConns 32, 100 connections that send
// nothing push out the oldest idle ones, while a connection in the middle
// of a request is kept and answered, and a new client is served.
func TestShedIdleConnections(t *testing.T) {
	t.Parallel()
	cache, _ := newCache(t, envConfig{})
	s := New(cache, Config{MaxConns: 32, Logger: slog.New(slog.DiscardHandler)})
	ln := serveInmemory(t, s)

	busy, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := busy.Write([]byte("GET /healthz HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	settle(t, s.conns, 1, 0) // the server has seen its first byte

	var idle []net.Conn
	for range 100 {
		c, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	if !closedWithin(idle[0], 5*time.Second) {
		t.Error("the oldest idle connection was not closed")
	}
	// The rest of the busy connection's request: it is answered.
	_ = busy.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := busy.Write([]byte("Host: x\r\n\r\n")); err != nil {
		t.Fatalf("busy connection: %v", err)
	}
	b := make([]byte, 12)
	if _, err := io.ReadFull(busy, b); err != nil || string(b) != "HTTP/1.1 200" {
		t.Errorf("busy connection: got %q, %v; want HTTP/1.1 200", b, err)
	}
	// Each of the last 100 connections shed one idle one, or was refused
	// with a 503 while the shed ones' workers were still finishing: at
	// most shedAt (28) stay open, the busy one included.
	tracker := s.conns
	deadline := time.Now().Add(5 * time.Second)
	for {
		tracker.mu.Lock()
		open := tracker.open
		tracker.mu.Unlock()
		if open <= 28 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d open connections; want at most 28", open)
		}
		time.Sleep(time.Millisecond)
	}
	// A new client is served, though 27 idle connections are open.
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !healthz(c) {
		t.Error("a new connection was not served")
	}
}

// TestNoSheddingByDefault: without MaxConns nothing is closed for being
// idle.
func TestNoSheddingByDefault(t *testing.T) {
	t.Parallel()
	cache, _ := newCache(t, envConfig{})
	s := New(cache, Config{Logger: slog.New(slog.DiscardHandler)})
	ln := serveInmemory(t, s)
	var conns []net.Conn
	for range 40 {
		c, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	if closedWithin(conns[0], 100*time.Millisecond) {
		t.Error("the oldest idle connection was closed without MaxConns")
	}
}

// fakeListener returns the errors in errs, then the conns in conns, then
// blocks until closed.
type fakeListener struct {
	errs   chan error
	conns  chan net.Conn
	closed chan struct{}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	select {
	case err := <-f.errs:
		return nil, err
	default:
	}
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeListener) Close() error   { close(f.closed); return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestAcceptRetries: EMFILE and ECONNABORTED do not end Accept; EMFILE
// closes the connection idle longest to free a descriptor; another error
// is returned; Close ends a backoff at once.
func TestAcceptRetries(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	tracker := &connTracker{}
	f := &fakeListener{errs: make(chan error, 4), conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l := &listener{Listener: f, conns: tracker, log: slog.New(slog.NewTextHandler(&logs, nil)), done: make(chan struct{})}

	idleServer, idleClient := net.Pipe()
	defer idleClient.Close()
	idle := &conn{Conn: idleServer}
	tracker.connState(idle, 0) // fasthttp.StateNew

	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: &osSyscallError{syscall.EMFILE}}
	f.errs <- emfile
	f.errs <- &net.OpError{Op: "accept", Net: "tcp", Err: syscall.ECONNABORTED}
	want, peer := net.Pipe()
	defer peer.Close()
	f.conns <- want
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v; want the connection after two temporary errors", err)
	}
	if c.(*conn).Conn != want {
		t.Fatalf("Accept returned %v; want the pending connection wrapped", c)
	}
	if !closedWithin(idleClient, time.Second) {
		t.Error("EMFILE did not close the idle connection")
	}
	if got := strings.Count(logs.String(), "cannot accept a connection, retrying"); got != 2 {
		t.Errorf("got %d retry log lines; want 2:\n%s", got, logs.String())
	}

	f.errs <- errors.New("listener broken")
	if _, err := l.Accept(); err == nil || err.Error() != "listener broken" {
		t.Errorf("Accept: %v; want the permanent error", err)
	}

	// A backoff ends when the listener closes.
	for range 4 {
		f.errs <- emfile
	}
	accepted := make(chan error, 1)
	go func() { _, err := l.Accept(); accepted <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Accept still retrying 5s after Close")
	}
}

// osSyscallError is an os.SyscallError-like wrapper, as accept4's.
type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "accept4: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }

// TestFasthttpLogger: a connection error is a debug line without the
// error's text, which quotes the request; other messages stay warnings.
func TestFasthttpLogger(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := fasthttpLogger{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	leaky := fmt.Errorf("error when reading request headers: missing colon: %q", "Authorization: Bearer s3cret")
	l.Printf("error when serving connection %q<->%q: %v", "127.0.0.1:5000", "127.0.0.1:40000", leaky)
	l.Printf("Permanent error when accepting new connections: %v", errors.New("accept4: boom"))
	got := out.String()
	for _, want := range []string{
		`level=DEBUG msg="client connection error" component=fasthttp remote=127.0.0.1:40000 reason="malformed request or broken connection"`,
		`level=WARN msg="Permanent error when accepting new connections: accept4: boom" component=fasthttp`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("got log:\n%s\nwant a line with %q", got, want)
		}
	}
	if strings.Contains(got, "s3cret") || strings.Contains(got, "Bearer") {
		t.Errorf("got log:\n%s\nwant no request bytes", got)
	}
}
