package main

// `make run` as a new user meets it: internal/scripts/run.sh, with the
// binary the tests built, a free port and a private redis-server.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/redistest"
)

// runScript starts internal/scripts/run.sh with env (no TIERCACHE_* of the
// test's own) and RUN_BIN set to the built binary; its output goes to a
// file, so that nothing waits on a pipe that a background process holds.
// exited receives the exit once; the test kills the process by pid at the
// end.
func runScript(t *testing.T, env ...string) (cmd *exec.Cmd, exited chan error, output func() string) {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found in PATH; install it (Debian: apt-get install redis-server) or run `make test`, which does")
	}
	logPath := filepath.Join(t.TempDir(), "run.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd = exec.Command("../../internal/scripts/run.sh")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIERCACHE_") && !strings.HasPrefix(kv, "RUN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append([]string{"RUN_BIN=" + bin}, env...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	output = func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("run.sh output:\n%s", output())
		}
	})
	return cmd, exited, output
}

// alive reports whether pid runs as name (not a zombie).
func alive(pid int, name string) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != name {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) > 2 && fields[2] != "Z"
}

// No Redis answers: run.sh starts a private one, the README's example
// answers as written (l2, then l1), and SIGTERM to the pid that run.sh
// started with stops tiercache (it was exec'd) and then that redis-server.
func TestRunScriptPrivateRedis(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	listen := freeAddr(t)
	redisPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd, exited, output := runScript(t,
		"TIERCACHE_LISTEN="+listen, "TIERCACHE_STORE=bolt:"+filepath.Join(t.TempDir(), "db"),
		"RUN_REDIS_PORT="+strconv.Itoa(redisPort), "RUN_DIR="+runDir)
	base := "http://" + listen
	waitHealthy(t, base, exited)

	b, err := os.ReadFile(filepath.Join(runDir, "redis.pid"))
	if err != nil {
		t.Fatalf("no redis.pid in RUN_DIR: %v", err)
	}
	redisPid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(redisPid, "redis-server") {
		t.Fatalf("redis.pid = %q; want a running redis-server", b)
	}
	if !alive(cmd.Process.Pid, "tiercache") {
		t.Fatalf("pid %d is not tiercache: run.sh did not exec it", cmd.Process.Pid)
	}

	// The README's example.
	if r := register(t, base, "kiran"); r.status != 201 {
		t.Fatalf("register = %d %s; want 201", r.status, r.body)
	}
	for _, want := range []string{"tiercache; hit; detail=l2", "tiercache; hit; detail=l1"} {
		r := do(t, "GET", base+"/user/kiran", "")
		if r.status != 200 || r.cacheStatus != want || !strings.Contains(r.body, "found in cache.") {
			t.Fatalf("GET /user/kiran = %d %q %s; want 200 %q found in cache.", r.status, r.cacheStatus, r.body, want)
		}
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v; want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent))
	if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after SIGTERM", listen)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(redisPid, "redis-server") {
		if time.Now().After(deadline) {
			t.Fatalf("the private redis-server (pid %d) still runs 10s after tiercache exited", redisPid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("redis-server gone %v after SIGTERM", time.Since(sent))
	for {
		if _, err := os.Stat(filepath.Join(runDir, "redis.pid")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis.pid left behind")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := output(); !strings.Contains(out, "started a private redis-server") {
		t.Errorf("run.sh did not say it started a redis-server:\n%s", out)
	}
}

// A Redis already answers: run.sh uses it and starts none.
func TestRunScriptUsesRunningRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	_, port, _ := net.SplitHostPort(srv.Addr)
	runDir := t.TempDir()
	listen := freeAddr(t)
	_, exited, output := runScript(t,
		"TIERCACHE_LISTEN="+listen, "TIERCACHE_STORE=memory", "RUN_REDIS_PORT="+port, "RUN_DIR="+runDir)
	waitHealthy(t, "http://"+listen, exited)
	if r := do(t, "GET", "http://"+listen+"/readyz", ""); !strings.Contains(r.body, `"redis":"ok"`) {
		t.Fatalf("readyz = %d %s; want redis ok", r.status, r.body)
	}
	if _, err := os.Stat(filepath.Join(runDir, "redis.pid")); !os.IsNotExist(err) {
		t.Errorf("run.sh started a redis-server although one answered on %s", srv.Addr)
	}
	if out := output(); !strings.Contains(out, "using the Redis that answers on "+srv.Addr) {
		t.Errorf("run.sh did not say which Redis it uses:\n%s", out)
	}
}
