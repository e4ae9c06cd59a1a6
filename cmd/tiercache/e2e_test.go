package main

// End-to-end tests: the whole service on loopback, with a real redis-server
// and the real store.

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tiercache/tiercache/internal/syncbuf"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
)

var client = &http.Client{Timeout: 5 * time.Second}

type reply struct {
	status      int
	body        string
	cacheStatus string
}

func do(t *testing.T, method, url, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("Cache-Status")}
}

// waitHealthy polls /healthz until it answers 200; it fails after 15s.
func waitHealthy(t *testing.T, base string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("tiercache exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz did not answer 200 within 15s", base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startInProcess runs the service with args in this process and stops it,
// gracefully, when the test ends.
func startInProcess(t *testing.T, args ...string) (base string) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	var logs syncBuffer
	go func() {
		exited <- run(ctx, append([]string{"-listen", addr}, args...), func(string) string { return "" }, io.Discard, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("run returned %v after shutdown; want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("graceful shutdown did not finish within 15s")
		}
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	base = "http://" + addr
	waitHealthy(t, base, exited)
	return base
}

type syncBuffer = syncbuf.Buffer

func register(t *testing.T, base, name string) reply {
	t.Helper()
	return do(t, "POST", base+"/register", fmt.Sprintf(`{"username":%q,"email":"%s@example.com"}`, name, name))
}

// The seed's README examples, against the service with Redis.
func TestSeedExamples(t *testing.T) {
	srv := redistest.Start(t)
	base := startInProcess(t, "-store", "bolt:"+filepath.Join(t.TempDir(), "db"), "-redis", srv.URL())

	r := register(t, base, "kiran")
	if want := `{"data":{"email":"kiran@example.com","username":"kiran"},"message":"User 'kiran' registered successfully."}` + "\n"; r.status != 201 || r.body != want {
		t.Fatalf("register = %d %s; want 201 %s", r.status, r.body, want)
	}
	// The registration stored the user in L2; the first read fills L1 from
	// there. After FLUSHALL the store answers, then L2 (the load's own SET
	// ended this instance's tracking, so L1 is filled from L2), then L1.
	type want struct{ msg, cacheStatus string }
	l2 := want{"found in cache.", "tiercache; hit; detail=l2"}
	l1 := want{"found in cache.", "tiercache; hit; detail=l1"}
	store := want{"retrieved from store.", "tiercache; fwd=miss; stored"}
	check := func(i int, r reply, want want) {
		t.Helper()
		body := `{"data":{"email":"kiran@example.com","username":"kiran"},"message":"User 'kiran' ` + want.msg + `"}` + "\n"
		if r.status != 200 || r.body != body || r.cacheStatus != want.cacheStatus {
			t.Fatalf("GET %d = %d %q %q; want 200 %q %q", i, r.status, r.body, r.cacheStatus, body, want.cacheStatus)
		}
	}
	for i, want := range []want{l2, l1, l1} {
		check(i, do(t, "GET", base+"/user/kiran", ""), want)
	}
	if _, err := srv.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	// L1 serves until the FLUSHALL invalidation arrives; the first read
	// after it must go to the store.
	r = do(t, "GET", base+"/user/kiran", "")
	for deadline := time.Now().Add(10 * time.Second); r.cacheStatus == l1.cacheStatus && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		r = do(t, "GET", base+"/user/kiran", "")
	}
	check(3, r, store)
	check(4, do(t, "GET", base+"/user/kiran", ""), l2)
	check(5, do(t, "GET", base+"/user/kiran", ""), l1)
	if r := do(t, "GET", base+"/readyz", ""); r.status != 200 || r.body != `{"redis":"ok","status":"ready","store":"ok"}`+"\n" {
		t.Fatalf("readyz = %d %s", r.status, r.body)
	}
}

// Redis stopped while serving: cached and stored users still answer 200 and
// registrations land; Redis back: L2 serves again without a restart.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	base := startInProcess(t, "-store", "bolt:"+filepath.Join(t.TempDir(), "db"), "-redis", srv.URL(),
		"-redis-timeout", "200ms")
	for _, name := range []string{"cached", "stored"} {
		if r := register(t, base, name); r.status != 201 {
			t.Fatalf("register %s = %d %s", name, r.status, r.body)
		}
	}
	for range 3 { // store → L2 → L1
		do(t, "GET", base+"/user/cached", "")
	}

	srv.Stop()
	for i := range 20 {
		for _, name := range []string{"cached", "stored"} {
			if r := do(t, "GET", base+"/user/"+name, ""); r.status != 200 {
				t.Fatalf("GET %s #%d with Redis down = %d %s; want 200", name, i, r.status, r.body)
			}
		}
	}
	if r := register(t, base, "during"); r.status != 201 {
		t.Fatalf("register with Redis down = %d %s; want 201", r.status, r.body)
	}
	if r := do(t, "GET", base+"/user/during", ""); r.status != 200 {
		t.Fatalf("GET of a user registered during the outage = %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"redis":"degraded"`) {
		t.Fatalf("readyz with Redis down = %d %s; want 200 with redis degraded", r.status, r.body)
	}

	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := do(t, "GET", base+"/user/cached", "")
		if r.status != 200 {
			t.Fatalf("GET after Redis came back = %d %s", r.status, r.body)
		}
		if r.cacheStatus == "tiercache; hit; detail=l2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("L2 did not serve within 15s of Redis coming back; last Cache-Status %q", r.cacheStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildBinary builds cmd/tiercache once per test run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tiercache-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tiercache")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a running tiercache binary.
type proc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{} // closed when the process has exited; then err is set
	err  error
}

// startProcess runs the built binary; the test kills it by pid at the end.
func startProcess(t *testing.T, args ...string) *proc {
	t.Helper()
	p, _ := startBinary(t, nil, "", "", args...)
	return p
}

// startBinary runs the built binary with the subcommand sub (none when
// empty), env over the environment without TIERCACHE_*, and args on a
// free port; it waits until probe+"/healthz" answers, and kills it by pid
// when the test ends, showing its log if the test failed.
func startBinary(t *testing.T, env []string, sub, probe string, args ...string) (*proc, *syncBuffer) {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args = append([]string{"-listen", addr}, args...)
	if sub != "" {
		args = append([]string{sub}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = testEnv(env)
	logs := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	exited := make(chan error, 1)
	go func() { p.err = cmd.Wait(); exited <- p.err; close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tiercache %s log:\n%s", sub, logs.String())
		}
	})
	waitHealthy(t, p.base+probe, exited)
	return p, logs
}

// Registrations acknowledged before a kill -9 are all there after a restart.
func TestDurabilityAcrossKill9(t *testing.T) {
	db := "bolt:" + filepath.Join(t.TempDir(), "db")
	p := startProcess(t, "-store", db, "-redis", "off")
	base := p.base

	var mu sync.Mutex
	var acked []string
	stop := time.Now().Add(500 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop) && i < 100000; i++ {
				name := fmt.Sprintf("u%d-%d", w, i)
				req, _ := http.NewRequest("POST", base+"/register",
					strings.NewReader(fmt.Sprintf(`{"username":%q,"email":"%s@example.com"}`, name, name)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the kill may cut a request; it was not acknowledged
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(400 * time.Millisecond) // kill while registrations are in flight
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged before the kill")
	}

	base = startProcess(t, "-store", db, "-redis", "off").base
	for _, name := range acked {
		if r := do(t, "GET", base+"/user/"+name, ""); r.status != 200 {
			t.Fatalf("acknowledged user %s after kill -9 and restart: %d %s", name, r.status, r.body)
		}
	}
	t.Logf("%d acknowledged registrations survived kill -9", len(acked))
}

// SIGTERM: the process finishes, exits 0, and releases the store.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	db := "bolt:" + filepath.Join(t.TempDir(), "db")
	p := startProcess(t, "-store", db, "-redis", "off")
	if r := register(t, p.base, "kiran"); r.status != 201 {
		t.Fatalf("register = %d", r.status)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("after SIGTERM: %v; want exit status 0", p.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
	base := startProcess(t, "-store", db, "-redis", "off").base
	if r := do(t, "GET", base+"/user/kiran", ""); r.status != 200 {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
}

// tiercache healthcheck exits 0 against a live service and 1 otherwise.
func TestHealthcheckCommand(t *testing.T) {
	base := startProcess(t, "-store", "memory", "-redis", "off").base
	bin, _ := buildOnce()
	var out bytes.Buffer
	hc := exec.Command(bin, "healthcheck", "-url", base+"/healthz")
	hc.Stdout, hc.Stderr = &out, &out
	if err := hc.Run(); err != nil {
		t.Fatalf("healthcheck against a live service: %v\n%s", err, out.String())
	}
	hc = exec.Command(bin, "healthcheck")
	hc.Env = append(os.Environ(), "TIERCACHE_LISTEN="+freeAddr(t))
	if err := hc.Run(); err == nil {
		t.Fatal("healthcheck against nothing exited 0")
	}
}

// Redis down at start, one address or every node of a cluster: the service
// serves anyway and says so once.
func TestStartsWithRedisDown(t *testing.T) {
	for _, url := range []string{
		"redis://" + freeAddr(t),
		"redis://" + freeAddr(t) + "?addr=" + freeAddr(t) + "&addr=" + freeAddr(t),
	} {
		t.Run(url, func(t *testing.T) {
			base := startProcess(t, "-store", "memory", "-redis", url).base
			if r := register(t, base, "kiran"); r.status != 201 {
				t.Fatalf("register with Redis down = %d %s", r.status, r.body)
			}
			if r := do(t, "GET", base+"/user/kiran", ""); r.status != 200 {
				t.Fatalf("GET with Redis down = %d %s", r.status, r.body)
			}
			if r := do(t, "GET", base+"/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"redis":"degraded"`) {
				t.Fatalf("readyz = %d %s; want redis degraded", r.status, r.body)
			}
		})
	}
}

// Two instances on one PostgreSQL store (one through each URL scheme) and
// one Redis: a registration on either is seen, and enforced, by both.
func TestInstancesSharePostgres(t *testing.T) {
	db := pgtest.NewDatabase(t, pgtest.Start(t))
	srv := redistest.Start(t)
	a := startInProcess(t, "-store", db, "-redis", srv.URL())
	b := startInProcess(t, "-store", "postgresql://"+strings.TrimPrefix(db, "postgres://"), "-redis", srv.URL())
	if r := register(t, a, "kiran"); r.status != 201 {
		t.Fatalf("register on a = %d %s; want 201", r.status, r.body)
	}
	if r := register(t, b, "kiran"); r.status != 409 {
		t.Fatalf("register on b = %d %s; want 409", r.status, r.body)
	}
	if r := do(t, "DELETE", b+"/user/kiran", ""); r.status != 200 {
		t.Fatalf("DELETE on b = %d %s; want 200", r.status, r.body)
	}
	if r := do(t, "GET", a+"/user/kiran", ""); r.status != 404 {
		t.Fatalf("GET on a = %d %s; want 404", r.status, r.body)
	}
	if r := register(t, a, "kiran"); r.status != 201 {
		t.Fatalf("register on a again = %d %s; want 201", r.status, r.body)
	}
	if r := do(t, "GET", b+"/user/kiran", ""); r.status != 200 {
		t.Fatalf("GET on b = %d %s; want 200", r.status, r.body)
	}
}
