package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a new loopback TCP connection, closed with
// the test.
func tcpPair(tb testing.TB) (server, client net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = server.Close() })
	return server, client
}

// timedRead reads from c and returns how long the read took, what it read
// and its error.
func timedRead(c net.Conn) (time.Duration, []byte, error) {
	start := time.Now()
	b := make([]byte, 64)
	n, err := c.Read(b)
	return time.Since(start), b[:n], err
}

// TestLazyDeadlines: a conn's deadlines behave as a socket's, though a later
// deadline is not set on the socket while an earlier one is armed.
func TestLazyDeadlines(t *testing.T) {
	t.Parallel()
	const early, late = 50 * time.Millisecond, 400 * time.Millisecond

	t.Run("a later read deadline holds", func(t *testing.T) {
		t.Parallel()
		sock, _ := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetReadDeadline(time.Now().Add(early))
		armed := c.rd.armed
		_ = c.SetReadDeadline(time.Now().Add(late))
		if c.rd.armed != armed {
			t.Fatal("a later deadline was set on the socket")
		}
		took, _, err := timedRead(c)
		if !isTimeout(err) || took < late {
			t.Errorf("read returned %v after %v; want a timeout after %v", err, took, late)
		}
	})

	t.Run("data before the deadline asked for", func(t *testing.T) {
		t.Parallel()
		sock, client := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetReadDeadline(time.Now().Add(early))
		_ = c.SetReadDeadline(time.Now().Add(late))
		time.AfterFunc(2*early, func() { _, _ = client.Write([]byte("x")) })
		_, b, err := timedRead(c)
		if err != nil || string(b) != "x" || !c.read {
			t.Errorf("got %q, %v; want x, nil", b, err)
		}
	})

	t.Run("no deadline after one", func(t *testing.T) {
		t.Parallel()
		sock, client := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetReadDeadline(time.Now().Add(early))
		_ = c.SetReadDeadline(time.Time{})
		time.AfterFunc(2*early, func() { _, _ = client.Write([]byte("x")) })
		if _, b, err := timedRead(c); err != nil || string(b) != "x" {
			t.Errorf("got %q, %v; want x, nil", b, err)
		}
	})

	t.Run("an earlier deadline interrupts a blocked read", func(t *testing.T) {
		t.Parallel()
		sock, _ := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		time.AfterFunc(early, func() { _ = c.SetReadDeadline(time.Now()) })
		took, _, err := timedRead(c)
		if !isTimeout(err) || took > 10*time.Second {
			t.Errorf("read returned %v after %v; want a timeout after %v", err, took, early)
		}
	})

	t.Run("a write goes on past an earlier armed deadline", func(t *testing.T) {
		t.Parallel()
		sock, client := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetWriteDeadline(time.Now().Add(early))
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		// More than the socket buffers hold: the write blocks until the
		// client reads, after the armed deadline.
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
		got := make(chan []byte, 1)
		go func() {
			time.Sleep(4 * early)
			b, _ := io.ReadAll(io.LimitReader(client, int64(len(data))))
			got <- b
		}()
		n, err := c.Write(data)
		if err != nil || n != len(data) {
			t.Fatalf("wrote %d bytes, %v; want %d, nil", n, err, len(data))
		}
		if b := <-got; !bytes.Equal(b, data) {
			t.Errorf("the client read %d bytes, not what was written", len(b))
		}
	})

	t.Run("a write times out at the deadline asked for", func(t *testing.T) {
		t.Parallel()
		sock, _ := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetWriteDeadline(time.Now().Add(early))
		_ = c.SetWriteDeadline(time.Now().Add(late))
		start := time.Now()
		_, err := c.Write(bytes.Repeat([]byte("x"), 64<<20))
		if took := time.Since(start); !isTimeout(err) || took < late {
			t.Errorf("write returned %v after %v; want a timeout after %v", err, took, late)
		}
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		sock, _ := tcpPair(t)
		c := &conn{Conn: sock}
		_ = c.SetReadDeadline(time.Now().Add(early))
		_ = sock.Close()
		if _, _, err := timedRead(c); !errors.Is(err, net.ErrClosed) {
			t.Errorf("got %v; want net.ErrClosed", err)
		}
	})
}
