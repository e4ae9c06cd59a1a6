package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Serve serves HTTP on ln until HTTPServer().Shutdown closes it. Unlike
// fasthttp.Server.Serve on a bare listener, it does not return when the
// process runs out of file descriptors or memory for a new connection (an
// accept error such as EMFILE, which any client can cause by opening
// connections): it closes the connection that has been idle longest and
// retries with a backoff from 5 ms to 1 s. It returns nil after Shutdown, or
// the listener's first permanent error.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(&listener{Listener: ln, conns: s.conns, log: s.log, done: make(chan struct{})})
}

// conn is a connection accepted by Serve. The connTracker keeps it in its
// idle list (by the intrusive prev/next links, so that tracking allocates
// nothing per request) while it waits for a request.
//
// Its deadlines are lazy: fasthttp sets three per request (the wait for the
// next request, the request's read, the answer's write), each a little
// later than the deadline it replaces, and each would cost two clock reads
// and an update of the runtime's timer heap. Instead, the socket keeps the
// deadline it has (armed) while it is no later than the one asked for
// (want); a read or write that the socket's deadline interrupts before want
// has passed is tried again with want armed, which happens about once per
// IdleTimeout on a busy connection. A deadline earlier than the armed one,
// or one where none is armed, is armed at once, so that a deadline in the
// past still interrupts a blocked read at once. A read or write therefore
// fails at the deadline asked for, as on a bare socket.
type conn struct {
	net.Conn

	// read is set by the first Read that returns data. Only the
	// connection's own goroutine reads and runs the ErrorHandler, which
	// looks at it, so it needs no lock.
	read bool

	dmu    sync.Mutex
	rd, wd deadline // guarded by dmu

	// Guarded by connTracker.mu.
	prev, next *conn
	idle       bool // in the idle list
	shed       bool // closed by the tracker: never idle again
	closed     bool // fasthttp reported it closed: no longer counted
}

// deadline is one direction's deadline of a conn. Invariant: armed is zero
// (no deadline) only when want is, and otherwise no later than want.
type deadline struct {
	want  time.Time // asked for by the last Set*Deadline; zero: none
	armed time.Time // set on the socket
}

func (c *conn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.read = true
		}
		if n > 0 || err == nil || !isTimeout(err) || !c.retry(false) {
			return n, err
		}
	}
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	for err != nil && isTimeout(err) && c.retry(true) {
		var m int
		m, err = c.Conn.Write(p[n:])
		n += m
	}
	return n, err
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.setDeadline(false, t); err != nil {
		return err
	}
	return c.setDeadline(true, t)
}

func (c *conn) SetReadDeadline(t time.Time) error  { return c.setDeadline(false, t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(true, t) }

// setDeadline records t as the read (or write) deadline, and sets it on the
// socket only when the armed one is later, or there is none.
func (c *conn) setDeadline(write bool, t time.Time) error {
	c.dmu.Lock()
	d := &c.rd
	if write {
		d = &c.wd
	}
	d.want = t
	var err error
	if !t.IsZero() && (d.armed.IsZero() || t.Before(d.armed)) {
		err = c.arm(write, d, t)
	}
	c.dmu.Unlock()
	return err
}

// retry reports whether a read (or write) that the socket's deadline
// interrupted is to be tried again: when the deadline asked for has not
// passed, which it arms first.
func (c *conn) retry(write bool) bool {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	d := &c.rd
	if write {
		d = &c.wd
	}
	if !d.want.IsZero() && !time.Now().Before(d.want) {
		return false
	}
	return c.arm(write, d, d.want) == nil
}

func (c *conn) arm(write bool, d *deadline, t time.Time) error {
	var err error
	if write {
		err = c.Conn.SetWriteDeadline(t)
	} else {
		err = c.Conn.SetReadDeadline(t)
	}
	if err == nil {
		d.armed = t
	}
	return err
}

// connTracker counts the open connections of a Server through fasthttp's
// ConnState hook and sheds idle ones: each new connection that makes more
// than shedAt open closes the connection that has waited longest for a
// request (a fresh one that has sent nothing yet, or a keep-alive one
// between requests). That keeps the count below fasthttp's Concurrency,
// where a new connection would get a 503, as long as some are idle: a flood
// of idle connections pushes out its own oldest members, not the clients
// being served. A shed connection counts as open until fasthttp reports it
// closed, as its worker and descriptor do; the room between shedAt and
// Concurrency absorbs a burst that outruns those releases.
//
// A connection is shed only while fasthttp reports it idle. Its request may
// still be arriving at that instant; the client then sees the connection
// close without an answer, as with any keep-alive connection a server
// closes, and retries an idempotent request on a new one.
type connTracker struct {
	shedAt int // 0: never shed

	mu         sync.Mutex
	open       int
	head, tail *conn // idle connections, longest idle first
}

// connState is the fasthttp.Server.ConnState hook. Connections that did not
// come from Serve's listener are not tracked.
func (t *connTracker) connState(nc net.Conn, st fasthttp.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case fasthttp.StateNew:
		t.open++
		if t.shedAt > 0 && t.open > t.shedAt {
			t.shedLocked(1)
		}
		t.push(c) // after shedding, so that it is never its own victim
	case fasthttp.StateActive:
		t.remove(c)
	case fasthttp.StateIdle:
		if !c.shed {
			t.push(c)
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		t.remove(c)
		if !c.closed {
			c.closed = true
			t.open--
		}
	}
}

// shedIdle closes up to n of the connections idle longest.
func (t *connTracker) shedIdle(n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shedLocked(n)
}

func (t *connTracker) shedLocked(n int) int {
	closed := 0
	for ; closed < n && t.head != nil; closed++ {
		c := t.head
		t.remove(c)
		c.shed = true
		// Wakes the connection's goroutine, which is waiting for a first
		// byte; fasthttp sends nothing on a connection closed under it.
		_ = c.Conn.Close()
	}
	return closed
}

func (t *connTracker) push(c *conn) {
	if c.idle {
		return
	}
	c.idle, c.prev, c.next = true, t.tail, nil
	if t.tail != nil {
		t.tail.next = c
	} else {
		t.head = c
	}
	t.tail = c
}

func (t *connTracker) remove(c *conn) {
	if !c.idle {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		t.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		t.tail = c.prev
	}
	c.idle, c.prev, c.next = false, nil, nil
}

// listener wraps each accepted connection in a conn and retries temporary
// accept errors; see Server.Serve.
type listener struct {
	net.Listener
	conns *connTracker
	log   *slog.Logger

	closeOnce sync.Once
	done      chan struct{} // closed by Close: stop retrying
}

// Accept backoff bounds, as net/http's.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return &conn{Conn: c}, nil
		}
		if !temporaryAcceptError(err) {
			return nil, err
		}
		delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
		shed := 0
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			// Free a descriptor for the connection waiting in the backlog.
			shed = l.conns.shedIdle(1)
		}
		l.log.Warn("cannot accept a connection, retrying", "err", err, "retry_in", delay, "idle_closed", shed)
		select {
		case <-time.After(delay):
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// temporaryAcceptError reports whether an accept error is about resources
// that closing connections frees (descriptors, memory, socket buffers), or
// about one connection aborted before it was accepted, rather than about the
// listener itself.
func temporaryAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return isTimeout(err)
}
