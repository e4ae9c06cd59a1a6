//go:build !race

package server

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// loopConn is a keep-alive client connection in memory: each Read returns
// one request, as a client that waits for each answer sends it, until n
// requests have been read; writes are counted and dropped. Its deadlines
// are those of sock, a real TCP connection, so that setting them costs what
// it costs on a served socket.
type loopConn struct {
	req     []byte
	n       int
	written int
	sock    net.Conn
}

func (c *loopConn) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	c.n--
	return copy(p, c.req), nil
}

func (c *loopConn) Write(p []byte) (int, error) { c.written += len(p); return len(p), nil }

func (c *loopConn) Close() error                       { return nil }
func (c *loopConn) LocalAddr() net.Addr                { return c.sock.LocalAddr() }
func (c *loopConn) RemoteAddr() net.Addr               { return c.sock.RemoteAddr() }
func (c *loopConn) SetDeadline(t time.Time) error      { return c.sock.SetDeadline(t) }
func (c *loopConn) SetReadDeadline(t time.Time) error  { return c.sock.SetReadDeadline(t) }
func (c *loopConn) SetWriteDeadline(t time.Time) error { return c.sock.SetWriteDeadline(t) }

// cpuTime returns the CPU time the process has used, user and system: a
// measure that, unlike ns/op, does not count the time other processes
// take the CPU away.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareServer is loadtest/cmd/bare's fasthttp.Server: tiercache's timeouts
// and limits, and a handler that writes the bytes of an L1 hit of kiran
// from constants.
func bareServer() *fasthttp.Server {
	cacheStatus, body := []byte(csL1), []byte(fromCache)
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			setCommonHeaders(ctx)
			if bytes.HasPrefix(ctx.Path(), []byte(userPrefix)) {
				ctx.Response.Header.SetCanonical(hdrCacheStatus, cacheStatus)
				ctx.Response.AppendBody(body)
			}
		},
		Name:                         "tiercache",
		ReadTimeout:                  10 * time.Second,
		WriteTimeout:                 10 * time.Second,
		IdleTimeout:                  60 * time.Second,
		MaxRequestBodySize:           64 << 10,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
	}
}

// BenchmarkServeConn measures the whole server side of GET /user/kiran,
// an L1 hit, on a keep-alive connection, but the socket: fasthttp's request
// loop (parsing, deadlines, ConnState, writing the answer) and the handler,
// for tiercache's Server against loadtest/cmd/bare's in the same run. One
// op is one request; the connection is served by one goroutine, as a real
// one is.
func BenchmarkServeConn(b *testing.B) {
	req := []byte("GET /user/kiran HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: wrk\r\n\r\n")
	s := newHotServer(b, nil)
	bare := bareServer()
	for _, bm := range []struct {
		name  string
		serve func(c *loopConn) error
	}{
		{"tiercache", func(c *loopConn) error {
			tc := &conn{Conn: c}
			s.conns.connState(tc, fasthttp.StateNew)
			return s.srv.ServeConn(tc)
		}},
		{"bare", func(c *loopConn) error { return bare.ServeConn(c) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			sock, _ := tcpPair(b)
			c := &loopConn{req: req, n: 1, sock: sock}
			if err := bm.serve(c); err != nil {
				b.Fatal(err)
			}
			perReq := c.written
			b.ReportAllocs()
			b.ResetTimer()
			c = &loopConn{req: req, n: b.N, sock: sock}
			cpu := cpuTime(b)
			if err := bm.serve(c); err != nil {
				b.Fatal(err)
			}
			cpu = cpuTime(b) - cpu
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			if c.written != perReq*b.N {
				b.Fatalf("wrote %d bytes for %d requests; want %d each", c.written, b.N, perReq)
			}
		})
	}
}
