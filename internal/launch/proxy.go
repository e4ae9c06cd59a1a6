package launch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proxyStartTimeout bounds the wait for a caching proxy to answer.
const proxyStartTimeout = 30 * time.Second

// proxy is one caching proxy process (nginx, varnishd) and the processes it
// starts, listening on a loopback port.
type proxy struct {
	name    string // the binary, for messages
	addr    string // 127.0.0.1:port
	logPath string

	mu   sync.Mutex // guards cmd
	cmd  *exec.Cmd  // nil once stopped
	done chan struct{}
}

// originHostPort checks that origin is an http URL with a host and a port
// and nothing else, and returns its host and port.
func originHostPort(origin string) (host, port string, err error) {
	u, err := url.Parse(origin)
	if err == nil && (u.Scheme != "http" || u.Port() == "" || strings.Trim(u.Path, "/") != "" ||
		u.RawQuery != "" || u.User != nil || u.Fragment != "") {
		err = errors.New("want http://HOST:PORT")
	}
	if err != nil {
		return "", "", fmt.Errorf("origin %q: %w", origin, err)
	}
	return u.Hostname(), u.Port(), nil
}

// prepareDir resolves dir and, as root, checks that user name can reach it
// and gives it to that user.
func prepareDir(dir, name string, cred *syscall.Credential) (string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("cannot resolve %s: %w", dir, err)
	}
	if cred != nil {
		if err := checkSearchable(abs, name, cred); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// start gives dir, with the files the caller wrote in it, to cred's user
// (cred nil: nothing to give), runs bin with args in dir as that user, its
// output appended to p.logPath, and waits until p.addr answers HTTP.
func (p *proxy) start(dir, user string, cred *syscall.Credential, bin string, args ...string) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s log: %w", p.name, err)
	}
	defer logf.Close() // the process keeps its own copy of the descriptor
	if cred != nil {
		if err := chownTree(dir, user, cred); err != nil {
			return err
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()

	deadline := time.Now().Add(proxyStartTimeout)
	for {
		err := probeHTTP(p.addr)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			return fmt.Errorf("%s on %s exited at start-up; %s", p.name, p.addr, logTail(p.logPath))
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("%s on %s did not answer HTTP within %v: %v; %s", p.name, p.addr, proxyStartTimeout, err, logTail(p.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeHTTP sends an HTTP/1.1 request without Host to addr and reads the
// status line. nginx and Varnish's builtin VCL both answer it with 400
// themselves, so the probe reaches neither the origin nor the cache.
func probeHTTP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.") {
		return fmt.Errorf("not an HTTP status line: %q", line)
	}
	return nil
}

// logTail returns the last lines of the log at path, for an error.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("cannot read %s: %v", path, err)
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return fmt.Sprintf("end of %s:\n%s", path, bytes.TrimSpace(b))
}

// URL is the http:// URL of the proxy.
func (p *proxy) URL() string { return "http://" + p.addr }

// Addr is the proxy's 127.0.0.1:port.
func (p *proxy) Addr() string { return p.addr }

// Pid is the process id of the main process, 0 once stopped.
func (p *proxy) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop stops the main process by its pid: SIGTERM, on which it stops the
// processes it started and exits, then SIGKILL if it is still running 10s
// later. It returns once the main process has exited and, for at most 10s
// more, every process it had started too; any still running then is
// SIGKILLed by its pid. Stopping a stopped proxy does nothing; Stop is safe
// for concurrent use. It removes no files.
func (p *proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	children := Descendants(p.cmd.Process.Pid)
	Terminate(p.cmd.Process, syscall.SIGTERM, p.done)
	p.cmd = nil
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range children {
		for running(c) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if running(c) {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
	}
}

// Descendants returns the pids of the running processes that pid started,
// and those that they started, from /proc.
func Descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := procParent(n); ok {
			parent[n] = pp
		}
	}
	var out []int
	next := []int{pid}
	for len(next) > 0 {
		p := next[0]
		next = next[1:]
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				next = append(next, c)
			}
		}
	}
	return out
}

// procParent returns the parent pid of a running (not zombie) process.
func procParent(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// running reports whether pid is a process that has not exited.
func running(pid int) bool {
	_, ok := procParent(pid)
	return ok
}

// Terminate asks the process p to stop with sig, by its pid, and SIGKILLs
// it if it is still running 10s later. done is closed once p has exited;
// Terminate returns then. A paused process gets SIGCONT first, since it
// acts on signals only once resumed.
func Terminate(p *os.Process, sig os.Signal, done <-chan struct{}) {
	_ = p.Signal(syscall.SIGCONT)
	_ = p.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-done
	}
}
