package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/tiercache/tiercache/internal/launch"
)

// runStack is -mode stack, make stack: a redis-server and the tiercache user
// service (built from ./cmd/tiercache, its store in a temporary directory)
// on fixed loopback ports, in the foreground, until ctx ends (Ctrl-C or
// SIGTERM). Then it stops tiercache first, so that it finishes its
// requests, then redis-server, and removes the directory. It keeps no
// state: each stack starts with an empty store and an empty Redis.
func runStack(ctx context.Context, c config, stdout, stderr io.Writer) error {
	checkPinning(&c, stderr)
	dir, err := os.MkdirTemp("", "loadbench-stack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(stderr, "== building tiercache")
	bin, err := goBuild(dir, "./cmd/tiercache")
	if err != nil {
		return err
	}
	s, err := startUserStack(dir, bin, c.listen, c.redisPort, c.serverCPU, stderr)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Fprintf(stdout, "stack up: tiercache %s (pid %d), redis-server %s (pid %d)%s; logs in %s; Ctrl-C stops both\n",
		s.url, s.tiercache.cmd.Process.Pid, s.redis.Addr, s.redis.Pid(), onCPU(c.serverCPU), dir)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping tiercache, then redis-server")
		return nil
	case <-s.tiercache.done:
		printLog(stderr, s.log)
		return errors.New("tiercache exited while serving; its log is above")
	}
}

// userStack is a redis-server and the tiercache user service on it.
type userStack struct {
	url       string // http://127.0.0.1:port
	log       string // tiercache's log file
	redis     *launch.Redis
	tiercache *proc
}

// startUserStack starts redis-server (on redisPort, or a free port when 0)
// and tiercache bin on listen, both on cpu (-1: anywhere), with their files
// in dir. On failure it stops what it started and prints tiercache's log
// to stderr.
func startUserStack(dir, bin, listen string, redisPort, cpu int, stderr io.Writer) (*userStack, error) {
	if err := checkFree(listen); err != nil {
		return nil, err
	}
	rdir := filepath.Join(dir, "redis")
	if err := os.Mkdir(rdir, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "== starting redis-server and tiercache%s\n", onCPU(cpu))
	var r *launch.Redis
	var err error
	if redisPort == 0 {
		r, err = launch.StartRedis(rdir)
	} else {
		r, err = launch.StartRedisOn(rdir, redisPort)
	}
	if err != nil {
		return nil, err
	}
	if err := pinTree(r.Pid(), cpu); err != nil {
		r.Stop()
		return nil, err
	}
	s := &userStack{url: "http://" + listen, log: filepath.Join(dir, "tiercache.log"), redis: r}
	s.tiercache, err = startProc("tiercache", dir, cpu, s.url, "/readyz", bin,
		"-listen", listen, "-redis", r.URL(), "-store", "bolt:"+filepath.Join(dir, "tiercache.db"))
	if err != nil {
		r.Stop()
		printLog(stderr, s.log)
		return nil, err
	}
	return s, nil
}

// stop stops tiercache, then redis-server, each by its pid.
func (s *userStack) stop() {
	s.tiercache.stop()
	s.redis.Stop()
}

// checkFree fails when something listens on addr: startProc would take
// its answers for those of the process it starts.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: the port is taken or the address is not local; choose another with -listen", addr)
	}
	return l.Close()
}

// checkPinning turns pinning off, saying so, where taskset is missing or
// there are fewer than two CPUs.
func checkPinning(c *config, stderr io.Writer) {
	if c.serverCPU < 0 && c.loadCPU < 0 {
		return
	}
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		fmt.Fprintln(stderr, "loadbench: taskset missing or fewer than 2 CPUs: not pinning")
		c.serverCPU, c.loadCPU = -1, -1
	}
}

// onCPU describes where a process runs.
func onCPU(cpu int) string {
	if cpu < 0 {
		return ""
	}
	return fmt.Sprintf(" on CPU %d", cpu)
}

// goBuild builds the command in pkg, a directory relative to the
// repository root, into dir, statically as the Dockerfile does, and
// returns the binary's path.
func goBuild(dir, pkg string) (string, error) {
	if _, err := os.Stat(pkg); err != nil {
		return "", fmt.Errorf("run loadbench from the repository root: %s not found", pkg)
	}
	bin, err := filepath.Abs(filepath.Join(dir, filepath.Base(pkg)))
	if err != nil {
		return "", err
	}
	// pkg may be in a module of its own (loadtest/go.mod): build it there.
	mod, rel := moduleOf(pkg)
	cmd := exec.Command(cmp.Or(os.Getenv("GO"), "go"), "build", "-C", mod, "-trimpath", "-o", bin, rel)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", pkg, err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// moduleOf splits pkg, a directory relative to the repository root, into
// the directory of the module that holds it (the nearest go.mod above it)
// and its path in that module, "./…".
func moduleOf(pkg string) (mod, rel string) {
	pkg = filepath.Clean(pkg)
	for d := pkg; d != "." && d != string(filepath.Separator); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			r, _ := filepath.Rel(d, pkg)
			return d, "./" + filepath.ToSlash(r)
		}
	}
	return ".", "./" + filepath.ToSlash(pkg)
}

// printLog prints the last lines of a log file, which the run's directory
// takes with it when it is removed.
func printLog(w io.Writer, path string) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	fmt.Fprintf(w, "--- last lines of %s:\n%s\n", filepath.Base(path), strings.Join(lines[max(0, len(lines)-20):], "\n"))
}
