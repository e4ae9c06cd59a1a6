package server

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"
)

// exchange sends raw on a new connection to ln and returns all the bytes the
// server sends before it closes the connection.
func exchange(t *testing.T, ln *fasthttputil.InmemoryListener, raw string) string {
	t.Helper()
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if raw != "" {
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", raw, err)
	}
	return string(b)
}

// TestProtocolOnTheWire checks answers as bytes, where the client would add
// defaults: a 204 to OPTIONS has Allow and nosniff and no Content-Type or
// body.
func TestProtocolOnTheWire(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	for _, path := range []string{"/user/kiran", "/register", "/healthz", "*"} {
		got := exchange(t, e.ln, "OPTIONS "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		head, body, _ := strings.Cut(got, "\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 204 No Content\r\n") || body != "" {
			t.Errorf("OPTIONS %s: got %q; want a 204 without body", path, got)
		}
		for _, want := range []string{"\r\nAllow: ", "\r\nX-Content-Type-Options: nosniff"} {
			if !strings.Contains(head, want) {
				t.Errorf("OPTIONS %s: got %q; want it to contain %q", path, head, want)
			}
		}
		for _, unwanted := range []string{"\r\nContent-Type:", "\r\nContent-Length:"} {
			if strings.Contains(head, unwanted) {
				t.Errorf("OPTIONS %s: got %q; want no %s", path, head, unwanted)
			}
		}
	}
}

// TestReadTimeout: a connection that sends nothing within ReadTimeout is
// closed without an answer (it made no request); one that sent part of a
// request gets a 408.
func TestReadTimeout(t *testing.T) {
	t.Parallel()
	cache, _ := newCache(t, envConfig{})
	s := New(cache, Config{ReadTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
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

	if got := exchange(t, ln, ""); got != "" {
		t.Errorf("silent connection: got %q; want the connection closed without an answer", got)
	}
	got := exchange(t, ln, "GET /healthz HTTP/1.1\r\nHo")
	if !strings.HasPrefix(got, "HTTP/1.1 408 Request Timeout\r\n") || !strings.HasSuffix(got, `{"error":"Request timeout."}`+"\n") {
		t.Errorf("partial request: got %q; want a 408 in JSON", got)
	}
	// A keep-alive connection that goes quiet after an answer is closed
	// without a word too (fasthttp's own behaviour, kept).
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	if n := strings.Count(string(b), "HTTP/1.1 "); n != 1 {
		t.Errorf("keep-alive connection: got %q; want exactly one answer", b)
	}
}

var _ net.Listener = (*listener)(nil)
