package launch

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartNginxCache(t *testing.T) {
	o := newTestOrigin(t)
	dir := proxyDir(t, "launch-nginx-")
	begin := time.Now()
	n, err := StartNginxCache(dir, o.URL, NginxOptions{})
	if err != nil {
		t.Fatalf("StartNginxCache: got %v; want nil", err)
	}
	t.Cleanup(n.Stop)
	t.Logf("nginx started in %v", time.Since(begin))
	if want := "http://" + n.Addr(); n.URL() != want || !strings.HasPrefix(n.Addr(), "127.0.0.1:") {
		t.Errorf("URL, Addr: got %s, %s; want %s on 127.0.0.1", n.URL(), n.Addr(), want)
	}

	checkCaching(t, n.URL(), o, "X-Cache-Status")

	for _, f := range []string{"nginx.conf", "nginx.pid", "nginx.log", "cache"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s in dir: %v", f, err)
		}
	}
	pid := n.Pid()
	if pid <= 0 {
		t.Fatalf("Pid: got %d; want > 0", pid)
	}
	children := Descendants(pid)
	if len(children) == 0 {
		t.Errorf("nginx master %d has no workers", pid)
	}
	if os.Geteuid() == 0 {
		checkUser(t, "www-data", append([]int{pid}, children...))
	}

	n.Stop()
	if got := n.Pid(); got != 0 {
		t.Errorf("Pid after Stop: got %d; want 0", got)
	}
	checkStopped(t, append([]int{pid}, children...))
	n.Stop() // a second Stop does nothing
}

func TestNginxConf(t *testing.T) {
	conf := nginxConf("/d", "127.0.0.1:1", "127.0.0.1:2", NginxOptions{WorkerProcesses: 2, MaxSize: "1g"})
	for _, want := range []string{
		"daemon off;", "worker_processes 2;", "pid /d/nginx.pid;", "access_log off;",
		"proxy_cache_path /d/cache levels=1:2 keys_zone=tiercache:16m max_size=1g",
		"server 127.0.0.1:2;", "keepalive 64;", "listen 127.0.0.1:1;",
		"proxy_http_version 1.1;", `proxy_set_header Connection "";`, "proxy_cache_lock on;",
		"proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504;",
		"add_header X-Cache-Status $upstream_cache_status always;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "proxy_cache_valid") {
		t.Errorf("nginx.conf sets proxy_cache_valid; freshness must come from the origin")
	}
	conf = nginxConf("/d", "127.0.0.1:1", "127.0.0.1:2", NginxOptions{DefaultValid: "1h"})
	if want := "proxy_cache_lock on;\n            proxy_cache_valid 200 1h;\n"; !strings.Contains(conf, want) {
		t.Errorf("nginx.conf with DefaultValid lacks %q:\n%s", want, conf)
	}
}

func TestNginxNotInstalled(t *testing.T) {
	t.Setenv("PATH", "")
	old := sbinDir
	sbinDir = t.TempDir()
	t.Cleanup(func() { sbinDir = old })
	_, err := StartNginxCache(t.TempDir(), "http://127.0.0.1:1", NginxOptions{})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install nginx-light") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v; want one line wrapping %v with the install hint", err, ErrNotInstalled)
	}
}

// checkUser checks that pids run as the system user name.
func checkUser(t *testing.T, name string, pids []int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); got != u.Uid {
			t.Errorf("process %d runs as uid %s; want %s's %s", pid, got, name, u.Uid)
		}
	}
}

// A start-up failure says so with the end of the log.
func TestNginxBadConf(t *testing.T) {
	dir := proxyDir(t, "launch-nginx-")
	_, err := StartNginxCache(dir, "http://127.0.0.1:1", NginxOptions{KeysZone: "bogus"})
	if err == nil || !strings.Contains(err.Error(), "exited at start-up") || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("got %v; want an exit at start-up with the log's complaint", err)
	}
}
