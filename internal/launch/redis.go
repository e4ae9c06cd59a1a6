// Package launch starts real server processes (redis-server, PostgreSQL,
// and nginx and Varnish as caching proxies) on free loopback ports, for the
// tests, the benchmarks and the coherence checker. Every process is stopped
// by its pid, never by name.
package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisInstallHint tells how to get redis-server.
const RedisInstallHint = "redis-server not found in PATH; install it (Debian: apt-get install redis-server) or run `make test`, which does"

// ErrNotInstalled wraps the error of a launcher whose binary is missing.
var ErrNotInstalled = errors.New("not installed")

// Redis is one redis-server process. Its port stays the same across
// Restart, so that clients can reconnect.
type Redis struct {
	Addr string // 127.0.0.1:port
	bin  string
	dir  string
	args []string // extra redis-server arguments
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server on a free loopback port, with its files
// and log (redis.log) in dir. It returns once the server answers PING.
// args are more redis-server arguments, kept across Restart: for example
// "--rename-command", "CLIENT", "" for a Redis without client tracking.
// They must leave PING open to an unauthenticated client.
func StartRedis(dir string, args ...string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RedisInstallHint, ErrNotInstalled)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("cannot find a free port: %w", err)
	}
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: dir, args: args}
	if err := r.start(); err != nil {
		return nil, err
	}
	return r, nil
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Redis) start() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create redis log: %w", err)
	}
	defer logf.Close()
	r.cmd = exec.Command(r.bin, append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, r.args...)...)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("cannot start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.Do("PING"); err == nil {
			return nil
		}
		select {
		case <-r.done:
			r.cmd = nil
			return fmt.Errorf("redis-server on %s exited at start-up; see %s", r.Addr, filepath.Join(r.dir, "redis.log"))
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("redis-server on %s did not answer PING within 10s", r.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pid is the process id, 0 when stopped.
func (r *Redis) Pid() int {
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Stop kills the server (SIGKILL, by pid) and waits for it. Stopping a
// stopped server does nothing.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies only once resumed
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart shuts the server down with SHUTDOWN NOSAVE, as an operator
// would, and starts a new, empty one on the same port. A server that has
// not exited 5 s later is SIGKILLed by its pid.
func (r *Redis) Restart() error {
	if r.cmd != nil {
		// On success Redis closes the connection without a reply: the
		// error says nothing, the exit does.
		_, _ = r.Do("SHUTDOWN", "NOSAVE")
		select {
		case <-r.done:
			r.cmd = nil
		case <-time.After(5 * time.Second):
			r.Stop()
		}
	}
	return r.start()
}

// Pause stops the process with SIGSTOP: connections stay open, nothing
// answers. Resume undoes it.
func (r *Redis) Pause() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (r *Redis) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// Do sends one command on a new connection and returns the reply (RESP2;
// bulk replies return their payload, integers and simple strings their
// text). It is for setup, inspection and fault injection, not speed.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// 2 s, and 1 s more per MiB sent: a test's 20 MiB value must not time
	// out on a machine loaded by other tests.
	size := 0
	for _, a := range args {
		size += len(a)
	}
	_ = c.SetDeadline(time.Now().Add(2*time.Second + time.Duration(size>>20)*time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line[1:], nil
}
