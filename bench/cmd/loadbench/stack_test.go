package main

import (
	"bufio"
	"cmp"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
)

// TestStack starts loadbench -mode stack as a process, uses the stack, and
// stops it with SIGTERM: loadbench exits 0 and redis-server and tiercache
// are gone.
func TestStack(t *testing.T) {
	root := chdirRoot(t)
	bin := filepath.Join(t.TempDir(), "loadbench")
	if out, err := exec.Command(cmp.Or(os.Getenv("GO"), "go"), "build", "-C", "bench", "-o", bin, "./cmd/loadbench").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	redisPort, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-mode", "stack", "-listen", "127.0.0.1:"+strconv.Itoa(port), "-redis-port", strconv.Itoa(redisPort))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var pids []int
	names := []string{"tiercache", "redis-server"}
	t.Cleanup(func() {
		// A failed test must not leave the stack running. The comm check
		// keeps a pid the system has given to another process since safe.
		_ = cmd.Process.Kill()
		for i, pid := range pids {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == names[i] {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var up string
	select {
	case up = <-lines:
	case <-time.After(3 * time.Minute):
		t.Fatal("no line from loadbench -mode stack within 3 minutes")
	}
	m := regexp.MustCompile(`^stack up: tiercache (http://\S+) \(pid (\d+)\), redis-server 127\.0\.0\.1:(\d+) \(pid (\d+)\)`).FindStringSubmatch(up)
	if m == nil {
		t.Fatalf("first line %q; want stack up: tiercache URL (pid N), redis-server ADDR (pid N)", up)
	}
	base := m[1]
	for _, s := range []string{m[2], m[4]} {
		pid, _ := strconv.Atoi(s)
		pids = append(pids, pid)
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(port); base != want || m[3] != strconv.Itoa(redisPort) {
		t.Errorf("tiercache %s, redis-server port %s; want %s and %d", base, m[3], want, redisPort)
	}

	call := func(method, path, body string, want int) string {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d; want %d: %s", method, path, resp.StatusCode, want, b)
		}
		return string(b)
	}
	if got := call("GET", "/readyz", "", 200); !strings.Contains(got, `"redis":"ok"`) {
		t.Errorf("GET /readyz: %s; want redis ok", got)
	}
	call("POST", "/register", `{"username":"stacktest","email":"stacktest@example.com"}`, 201)
	if got := call("GET", "/user/stacktest", "", 200); !strings.Contains(got, "stacktest@example.com") {
		t.Errorf("GET /user/stacktest: %s", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines { // the stopping line
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("loadbench -mode stack after SIGTERM: %v; want exit 0", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("loadbench -mode stack still runs a minute after SIGTERM")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after loadbench exited", pid)
		}
	}
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
