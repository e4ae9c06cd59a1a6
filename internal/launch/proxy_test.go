package launch

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// testOrigin is an HTTP origin on 127.0.0.1 that counts requests per path:
// /cached answers with max-age=60, /nostore with no-store.
type testOrigin struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
}

func newTestOrigin(t *testing.T) *testOrigin {
	t.Helper()
	o := &testOrigin{count: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.count[r.URL.Path]++
		o.mu.Unlock()
		switch r.URL.Path {
		case "/cached":
			w.Header().Set("Cache-Control", "max-age=60")
		case "/nostore":
			w.Header().Set("Cache-Control", "no-store")
		default:
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "body of "+r.URL.Path)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[path]
}

// checkCaching GETs /cached twice and /nostore three times through the
// proxy at base: the origin sees /cached once and /nostore three times, and
// the header cacheHeader says HIT on the second /cached.
func checkCaching(t *testing.T, base string, o *testOrigin, cacheHeader string) {
	t.Helper()
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != "body of "+path {
			t.Fatalf("GET %s: got %d %q, %v; want 200 %q", path, resp.StatusCode, body, err, "body of "+path)
		}
		return resp.Header.Get(cacheHeader)
	}
	if got := get("/cached"); got != "MISS" {
		t.Errorf("first GET /cached: %s %q; want MISS", cacheHeader, got)
	}
	if got := get("/cached"); got != "HIT" {
		t.Errorf("second GET /cached: %s %q; want HIT", cacheHeader, got)
	}
	if got := o.requests("/cached"); got != 1 {
		t.Errorf("origin requests for /cached: got %d; want 1", got)
	}
	for i := 1; i <= 3; i++ {
		if got := get("/nostore"); got == "HIT" {
			t.Errorf("GET /nostore #%d: %s %q; want no HIT", i, cacheHeader, got)
		}
		if got := o.requests("/nostore"); got != i {
			t.Errorf("origin requests for /nostore after %d GETs: got %d; want %d", i, got, i)
		}
	}
}

// checkStopped checks that none of pids runs.
func checkStopped(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d still runs after Stop", pid)
		} else if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("signal 0 to stopped process %d: got %v; want %v", pid, err, syscall.ESRCH)
		}
	}
}

// proxyDir is a fresh directory that a server run as a system user can
// reach (t.TempDir's parent is private).
func proxyDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestOriginHostPort(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:80", "https://127.0.0.1:1", "http://127.0.0.1", "http://127.0.0.1:1/x", "http://u@127.0.0.1:1"} {
		if _, _, err := originHostPort(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("originHostPort(%q): got %v; want an error naming it", bad, err)
		}
	}
	if h, p, err := originHostPort("http://127.0.0.1:8080/"); h != "127.0.0.1" || p != "8080" || err != nil {
		t.Errorf("originHostPort: got %q, %q, %v; want 127.0.0.1, 8080, nil", h, p, err)
	}
}
