package main

// End-to-end tests of what clients cannot do to the process: exhaust its
// file descriptors, or flood its log.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/pgtest"
)

// startLimited runs the built binary under a file descriptor limit of
// nofile (soft and hard, set by sh's ulimit, so that the binary cannot
// raise it) and returns it with its log. nofile 0 leaves the limit alone.
func startLimited(t *testing.T, nofile int, args ...string) (*proc, *syncBuffer) {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	argv := append([]string{bin, "-listen", addr}, args...)
	if nofile > 0 {
		argv = append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, nofile), "sh"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	exited := make(chan error, 1)
	go func() { p.err = cmd.Wait(); exited <- p.err; close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by pid: sh exec'd the binary
		<-p.done
		if t.Failed() {
			log := logs.String()
			if len(log) > 16<<10 {
				log = log[:8<<10] + "\n…\n" + log[len(log)-8<<10:]
			}
			t.Logf("tiercache log:\n%s", log)
		}
	})
	waitHealthy(t, p.base, exited)
	return p, logs
}

// noKeepAlive asks on a new connection each time, so that no answer depends
// on a connection the server may have closed as idle.
var noKeepAlive = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// healthyWithin polls /healthz until it answers 200, and fails the test if
// it does not within d or the process exits.
func healthyWithin(t *testing.T, p *proc, d time.Duration, when string) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		select {
		case <-p.done:
			t.Fatalf("%s: tiercache exited: %v", when, p.err)
		default:
		}
		resp, err := noKeepAlive.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz did not answer 200 within %v; last: %s", when, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectionFlood opens more connections than the process has file
// descriptors, idle ones and slow ones (part of a request line, then
// nothing): the process stays up, and /healthz answers within seconds of
// the flood ending. Before -max-conns and Server.Serve, accept failed with
// EMFILE and the process exited.
func TestConnectionFlood(t *testing.T) {
	const nofile, conns = 256, 600
	for _, tc := range []struct {
		name  string
		first string // what each connection sends before going quiet
	}{
		{"idle", ""},
		{"slow", "GET /healthz HTTP/1.1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := startLimited(t, nofile, "-store", "memory", "-redis", "off")
			wantLimit := fmt.Sprintf("max_conns=%d fd_limit=%d", defaultMaxConns(nofile), nofile)
			if !strings.Contains(logs.String(), wantLimit) {
				t.Errorf("start-up log lacks %q", wantLimit)
			}
			addr := strings.TrimPrefix(p.base, "http://")
			var open []net.Conn
			defer func() {
				for _, c := range open {
					c.Close()
				}
			}()
			for i := range conns {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				open = append(open, c)
				if tc.first != "" {
					if _, err := c.Write([]byte(tc.first)); err != nil {
						t.Fatalf("write %d: %v", i, err)
					}
				}
			}
			time.Sleep(500 * time.Millisecond) // let the server accept them all
			select {
			case <-p.done:
				t.Fatalf("tiercache exited during a flood of %d connections at ulimit -n %d: %v", conns, nofile, p.err)
			default:
			}
			if tc.first == "" {
				// Idle connections make room: the newest client is served
				// during the flood.
				healthyWithin(t, p, 5*time.Second, "during the idle flood")
			}
			for _, c := range open {
				c.Close()
			}
			open = nil
			healthyWithin(t, p, 5*time.Second, "after the flood")
			if fds := openFDs(t, p); fds >= nofile {
				t.Errorf("got %d open descriptors after the flood; want fewer than %d", fds, nofile)
			}
		})
	}
}

// openFDs counts the descriptors the process holds.
func openFDs(t *testing.T, p *proc) int {
	t.Helper()
	out, err := exec.Command("ls", "/proc/"+strconv.Itoa(p.cmd.Process.Pid)+"/fd").Output()
	if err != nil {
		t.Fatalf("ls /proc/PID/fd: %v", err)
	}
	return strings.Count(string(out), "\n")
}

// TestQuietConnectionClosedQuietly: a connection that sends nothing within
// -read-timeout is closed without the unsolicited 400 it used to get.
func TestQuietConnectionClosedQuietly(t *testing.T) {
	p, _ := startLimited(t, 0, "-store", "memory", "-redis", "off", "-read-timeout", "200ms")
	c, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (after %v)", err, time.Since(start))
	}
	if len(b) != 0 {
		t.Errorf("got %q; want the connection closed without an answer", b)
	}
}

// malformedRequest is a GET /healthz whose header has an Authorization
// with a bearerToken, then a 3,900-byte line without a colon: about 4,000 bytes
// of header, within the 4 KiB read buffer, so that fasthttp parses it (and
// fails) rather than answering 431.
const bearerToken = "s3cr3t-t0ken-must-not-be-logged"

var malformedRequest = "GET /healthz HTTP/1.1\r\nHost: tiercache\r\nAuthorization: Bearer " + bearerToken +
	"\r\nX-Junk" + strings.Repeat("a", 3900) + "\r\n\r\n"

// flood sends n copies of raw, each on its own connection, from 8 clients,
// and returns how many got an answer with status.
func flood(t *testing.T, addr, raw string, n, status int) int {
	t.Helper()
	var got atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte(raw)); err == nil {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil {
						if resp.StatusCode == status {
							got.Add(1)
						}
						resp.Body.Close()
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	return int(got.Load())
}

// TestLogFlood: 3,000 requests with a malformed 4,000-byte header add less
// than 64 KiB to the log and never the header's bytes, at info level and at
// debug level (where each is a line, rate-limited). They used to add 63 MiB
// with the Authorization header in it.
func TestLogFlood(t *testing.T) {
	const n = 3000
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			p, logs := startLimited(t, 0, "-store", "memory", "-redis", "off", "-log-level", level)
			before := len(logs.String())
			if got := flood(t, strings.TrimPrefix(p.base, "http://"), malformedRequest, n, http.StatusBadRequest); got != n {
				t.Errorf("got %d answers 400; want %d", got, n)
			}
			time.Sleep(1500 * time.Millisecond) // past the rate limit's interval: its summaries are written
			log := logs.String()
			grown := len(log) - before
			t.Logf("-log-level %s: %d requests added %d bytes of log", level, n, grown)
			if grown >= 64<<10 {
				t.Errorf("the log grew by %d bytes; want less than 64 KiB", grown)
			}
			for _, leak := range []string{bearerToken, "Bearer", "aaaaaaaaaaaaaaaa"} {
				if strings.Contains(log, leak) {
					t.Errorf("the log contains %q from the requests", leak)
				}
			}
			if level == "debug" && !regexp.MustCompile(`msg="suppressed \d+ similar lines" like="client connection error"`).MatchString(log) {
				t.Errorf("debug log has no summary of suppressed client errors")
			}
		})
	}
}

// TestStoreDownLogBounded: with PostgreSQL stopped, every read of an
// uncached user fails; a flood of them writes a few ERROR lines a second
// and a count of the rest, not one line per request.
func TestStoreDownLogBounded(t *testing.T) {
	pg := pgtest.Start(t)
	p, logs := startLimited(t, 0, "-store", pgtest.NewDatabase(t, pg), "-redis", "off", "-store-timeout", "200ms")
	pg.Stop()
	before := len(logs.String())

	const workers, perWorker = 8, 500
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				resp, err := noKeepAlive.Get(fmt.Sprintf("%s/user/u%d-%d", p.base, w, i))
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // the last interval's summary
	log := logs.String()[before:]
	errorLines := strings.Count(log, "level=ERROR")
	t.Logf("%d reads answered 503 in %v; the log grew by %d bytes, %d ERROR lines",
		failed.Load(), elapsed.Round(time.Millisecond), len(log), errorLines)
	if failed.Load() < workers*perWorker/2 {
		t.Fatalf("only %d of %d reads answered 503 with the store down", failed.Load(), workers*perWorker)
	}
	// Per second and kind of line: 10 lines and one summary. The kinds
	// are "cannot read user" and what core logs about the store.
	if limit := 4 * 11 * (int(elapsed/time.Second) + 2); errorLines > limit {
		t.Errorf("got %d ERROR lines in %v; want at most %d", errorLines, elapsed, limit)
	}
	if !strings.Contains(log, `similar lines" like="cannot read user"`) {
		t.Error("no summary of the suppressed \"cannot read user\" lines")
	}
}
