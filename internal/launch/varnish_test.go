package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartVarnish(t *testing.T) {
	o := newTestOrigin(t)
	dir := proxyDir(t, "launch-varnish-")
	begin := time.Now()
	v, err := StartVarnish(dir, o.URL, VarnishOptions{MallocSize: "64m"})
	if err != nil {
		t.Fatalf("StartVarnish: got %v; want nil", err)
	}
	t.Cleanup(v.Stop)
	t.Logf("varnishd started in %v", time.Since(begin))
	if want := "http://" + v.Addr(); v.URL() != want || !strings.HasPrefix(v.Addr(), "127.0.0.1:") {
		t.Errorf("URL, Addr: got %s, %s; want %s on 127.0.0.1", v.URL(), v.Addr(), want)
	}

	checkCaching(t, v.URL(), o, "X-Cache")

	for _, f := range []string{"default.vcl", "varnishd.log", "varnish"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s in dir: %v", f, err)
		}
	}
	pid := v.Pid()
	if pid <= 0 {
		t.Fatalf("Pid: got %d; want > 0", pid)
	}
	children := Descendants(pid)
	if len(children) == 0 {
		t.Errorf("varnishd manager %d has no cache process", pid)
	}
	if os.Geteuid() == 0 {
		checkUser(t, "varnish", append([]int{pid}, children...))
	}

	v.Stop()
	if got := v.Pid(); got != 0 {
		t.Errorf("Pid after Stop: got %d; want 0", got)
	}
	checkStopped(t, append([]int{pid}, children...))
	v.Stop() // a second Stop does nothing
}

func TestVarnishVCL(t *testing.T) {
	vcl := varnishVCL("127.0.0.1", "2")
	for _, want := range []string{"vcl 4.1;", `.host = "127.0.0.1";`, `.port = "2";`, "obj.hits > 0", `set resp.http.X-Cache = "HIT";`} {
		if !strings.Contains(vcl, want) {
			t.Errorf("VCL lacks %q:\n%s", want, vcl)
		}
	}
	// The builtin VCL runs after ours only where ours does not return.
	if strings.Contains(vcl, "return") {
		t.Errorf("VCL returns, which skips the builtin VCL:\n%s", vcl)
	}
}

func TestVarnishNotInstalled(t *testing.T) {
	t.Setenv("PATH", "")
	old := sbinDir
	sbinDir = t.TempDir()
	t.Cleanup(func() { sbinDir = old })
	_, err := StartVarnish(t.TempDir(), "http://127.0.0.1:1", VarnishOptions{})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install varnish") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v; want one line wrapping %v with the install hint", err, ErrNotInstalled)
	}
}

// A start-up failure says so with the end of the log.
func TestVarnishBadArgs(t *testing.T) {
	dir := proxyDir(t, "launch-varnish-")
	_, err := StartVarnish(dir, "http://127.0.0.1:1", VarnishOptions{Args: []string{"-p", "no_such_param=1"}})
	if err == nil || !strings.Contains(err.Error(), "exited at start-up") || !strings.Contains(err.Error(), "no_such_param") {
		t.Errorf("got %v; want an exit at start-up with the log's complaint", err)
	}
}
