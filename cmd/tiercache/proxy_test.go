package main

// tiercache proxy as a user starts it: the built binary in front of a
// programmable origin, and in front of the user service itself.

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/origintest"
	"github.com/tiercache/tiercache/internal/redistest"
)

// purgeToken is the -purge-token of the tests; no output may show it.
const purgeToken = "purge-" + secret

// testEnv is the test's environment without its TIERCACHE_* variables,
// then env.
func testEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIERCACHE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// startProxy runs the built binary as tiercache proxy with env and args on
// a free port, waits for its healthz probe, and kills it by pid when the
// test ends. logs holds what it wrote.
func startProxy(t *testing.T, env []string, args ...string) (p *proc, logs *syncBuffer) {
	t.Helper()
	return startBinary(t, env, "proxy", "/_tiercache", args...)
}

// doHeader sends a request with header name, value pairs.
func doHeader(t *testing.T, method, url, body string, header ...string) (reply, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return reply{resp.StatusCode, b.String(), resp.Header.Get("Cache-Status")}, resp.Header
}

// pollUntil polls cond until it holds; it fails the test after 10s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A proxy configuration that cannot work stops tiercache proxy at start:
// one line on stderr, exit status 2 for a command line it does not
// understand and 1 for a bad setting, never a panic or a secret.
func TestProxyStartupErrors(t *testing.T) {
	t.Parallel()
	token := "-purge-token=" + purgeToken
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string // the line, after "tiercache: "
		skip string // a known problem of the proxy package
	}{
		{"no origin", nil, []string{token}, 2,
			"proxy: -origin (or TIERCACHE_ORIGIN) is required (tiercache proxy -h lists the flags)\n", ""},
		{"ftp origin", nil, []string{"-origin", "ftp://x", token}, 1,
			`invalid origin "ftp://x": want http://host:port or https://host:port, without a path or credentials`, ""},
		{"origin without host", nil, []string{"-origin", "http://", token}, 1,
			`invalid origin "http://": want http://host:port or https://host:port, without a path or credentials`, ""},
		{"origin with a path", []string{"TIERCACHE_ORIGIN=http://h:1/path", "TIERCACHE_PURGE_TOKEN=" + purgeToken}, nil, 1,
			`invalid origin "http://h:1/path": want http://host:port or https://host:port, without a path or credentials`, ""},
		{"origin with a password", []string{"TIERCACHE_ORIGIN=http://u:" + secret + "@h:1/path"}, nil, 1,
			`invalid origin "http://u:xxxxx@h:1/path": want http://host:port or https://host:port, without a path or credentials`, ""},
		{"max object bytes above 1GiB", nil, []string{"-origin", "http://127.0.0.1:1", "-max-object-bytes", "2GiB", token}, 1,
			"invalid -max-object-bytes 2GiB: at most 1GiB", ""},
		{"negative stale-if-error", nil, []string{"-origin", "http://127.0.0.1:1", "-stale-if-error", "-1s", token}, 1,
			"invalid -stale-if-error -1s: must be positive", ""},
		{"negative stale-if-error by environment", []string{"TIERCACHE_STALE_IF_ERROR=-1s", "TIERCACHE_ORIGIN=http://127.0.0.1:1"}, nil, 1,
			"invalid -stale-if-error -1s: must be positive", ""},
		{"zero origin timeout", nil, []string{"-origin", "http://127.0.0.1:1", "-origin-timeout", "0s", token}, 1,
			"invalid -origin-timeout 0s: must be positive", ""},
		{"negative default ttl", nil, []string{"-origin", "http://127.0.0.1:1", "-default-ttl", "-5s", token}, 1,
			"invalid -default-ttl -5s: must be positive", ""},
		{"bad duration", []string{"TIERCACHE_ORIGIN_TIMEOUT=soon"}, []string{"-origin", "http://127.0.0.1:1"}, 1,
			`invalid TIERCACHE_ORIGIN_TIMEOUT="soon": want a duration such as 50ms, 30s or 1h`, ""},
		{"user-service flag", nil, []string{"-origin", "http://127.0.0.1:1", "-store", "memory"}, 2,
			"flag provided but not defined: -store (tiercache proxy -h lists the flags)\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip("known proxy problem: " + tc.skip)
			}
			args := append([]string{"proxy", "-listen", freeAddr(t), "-redis", "off"}, tc.args...)
			r := runBinary(t, tc.env, args...)
			if r.code != tc.code {
				t.Errorf("exit status %d; want %d", r.code, tc.code)
			}
			if !strings.HasPrefix(r.stderr, "tiercache: "+tc.want) || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("stderr = %q; want one line starting %q", r.stderr, "tiercache: "+tc.want)
			}
			for _, bad := range []string{"panic", "goroutine", secret} {
				if strings.Contains(r.stderr+r.stdout, bad) {
					t.Errorf("output shows %q:\n%s%s", bad, r.stdout, r.stderr)
				}
			}
		})
	}
}

// tiercache proxy -h lists the proxy's settings, and only those.
func TestProxyUsage(t *testing.T) {
	t.Parallel()
	r := runBinary(t, nil, "proxy", "-h")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("proxy -h: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	for _, want := range []string{"-origin (TIERCACHE_ORIGIN)", "-purge-token (TIERCACHE_PURGE_TOKEN)", `(default "tiercache:proxy:")`, `(default "24h")`, `(default "2m")`, `(default "1MiB")`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("proxy -h output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"-store ", "-negative-ttl", "-store-timeout"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("proxy -h output lists the user service's %s", unwanted)
		}
	}
}

// Two proxies on one Redis in front of an origin: a miss, then hits; a
// write through one is what the other answers next; PURGE with and
// without the token; the probes; the purge token never in a log.
func TestProxyServes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	o := origintest.Start(t)
	o.Put("/a", "one")
	o.Set("/a", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=3600"}}})
	env := []string{"TIERCACHE_PURGE_TOKEN=" + purgeToken}
	a, alog := startProxy(t, env, "-origin", o.URL(), "-redis", srv.URL(), "-log-level", "debug")
	b, blog := startProxy(t, env, "-origin", o.URL(), "-redis", srv.URL(), "-log-level", "debug")

	if r := do(t, "GET", a.base+"/a", ""); r.status != 200 || r.body != "one" || !strings.HasPrefix(r.cacheStatus, "tiercache; fwd=miss; stored; ttl=") {
		t.Fatalf("first GET = %d %q %q; want 200 one, a stored miss", r.status, r.body, r.cacheStatus)
	}
	if r := do(t, "GET", a.base+"/a", ""); r.status != 200 || r.body != "one" || !strings.HasPrefix(r.cacheStatus, "tiercache; hit; detail=l") {
		t.Fatalf("second GET = %d %q %q; want a hit", r.status, r.body, r.cacheStatus)
	}
	if r := do(t, "GET", b.base+"/a", ""); r.status != 200 || r.body != "one" || !strings.HasPrefix(r.cacheStatus, "tiercache; hit; detail=l2; ttl=") {
		t.Fatalf("GET on the other proxy = %d %q %q; want an L2 hit", r.status, r.body, r.cacheStatus)
	}
	pollUntil(t, "an L1 hit on b", func() bool {
		return strings.HasPrefix(do(t, "GET", b.base+"/a", "").cacheStatus, "tiercache; hit; detail=l1")
	})
	if n := o.Count("GET", "/a"); n != 1 {
		t.Fatalf("the origin saw %d GETs of /a; want 1", n)
	}

	// A write through a: a answers it at once, b within a bounded poll.
	if r := do(t, "PUT", a.base+"/a", "two"); r.status != 200 || r.cacheStatus != "tiercache; fwd=method" {
		t.Fatalf("PUT = %d %q %q; want 200, fwd=method", r.status, r.body, r.cacheStatus)
	}
	if r := do(t, "GET", a.base+"/a", ""); r.body != "two" {
		t.Fatalf("GET through the writer = %q %q; want two", r.body, r.cacheStatus)
	}
	pollUntil(t, "the write to reach b", func() bool { return do(t, "GET", b.base+"/a", "").body == "two" })

	// PURGE: 401 without the token or with another, 200 with it.
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", purgeToken}} {
		r, _ := doHeader(t, "PURGE", a.base+"/a", "", h...)
		if r.status != 401 || r.cacheStatus != "tiercache; fwd=method" || strings.Contains(r.body, purgeToken) {
			t.Fatalf("PURGE with %q = %d %q %q; want 401", h, r.status, r.body, r.cacheStatus)
		}
	}
	if r := do(t, "GET", b.base+"/a", ""); !strings.Contains(r.cacheStatus, "hit") {
		t.Fatalf("a refused PURGE purged: %q", r.cacheStatus)
	}
	before := o.Count("GET", "/a")
	if r, _ := doHeader(t, "PURGE", a.base+"/a", "", "Authorization", "Bearer "+purgeToken); r.status != 200 || r.body != `{"purged":true}`+"\n" {
		t.Fatalf("PURGE with the token = %d %q; want 200 purged", r.status, r.body)
	}
	pollUntil(t, "the purge to reach b", func() bool { return !strings.Contains(do(t, "GET", b.base+"/a", "").cacheStatus, "hit") })
	if o.Count("GET", "/a") == before {
		t.Fatal("the origin saw no GET after the purge")
	}

	// The probes, and another path under /_tiercache/, which never
	// reaches the origin.
	for _, base := range []string{a.base, b.base} {
		if r := do(t, "GET", base+"/_tiercache/healthz", ""); r.status != 200 || r.body != `{"status":"ok"}`+"\n" {
			t.Errorf("healthz = %d %q", r.status, r.body)
		}
		if r := do(t, "GET", base+"/_tiercache/readyz", ""); r.status != 200 || r.body != `{"redis":"ok","status":"ready"}`+"\n" {
			t.Errorf("readyz = %d %q; want redis ok", r.status, r.body)
		}
		r, hdr := doHeader(t, "GET", base+"/_tiercache/metrics", "")
		if r.status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Errorf("metrics = %d, Content-Type %q", r.status, hdr.Get("Content-Type"))
		}
		for _, want := range []string{`tiercache_l1_reads_total{result="hit"} `, `tiercache_l2_reads_total{result="hit"} `, "tiercache_store_loads_total ", "tiercache_l2_queued_writes 0\n"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("metrics lack %q:\n%s", want, r.body)
			}
		}
		r, hdr = doHeader(t, "GET", base+"/_tiercache/other", "")
		if r.status != 404 || r.body != `{"error":"Not found."}`+"\n" || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("GET /_tiercache/other = %d %q %q; want 404 in JSON", r.status, r.body, hdr.Get("Content-Type"))
		}
	}
	if n := o.Count("", "/_tiercache/other"); n != 0 {
		t.Errorf("the origin saw %d requests of /_tiercache/other; want none", n)
	}

	// The origin failing makes log lines; none shows the token.
	o.Set("/down", origintest.Behavior{Fail: origintest.FailClose})
	if r := do(t, "GET", a.base+"/down", ""); r.status != 502 {
		t.Errorf("GET of a failing origin = %d %q; want 502", r.status, r.body)
	}
	for _, l := range []*syncBuffer{alog, blog} {
		out := l.String()
		if !strings.Contains(out, "tiercache serving") {
			t.Errorf("the log lacks the start-up line:\n%s", out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("the log shows the purge token:\n%s", out)
		}
	}
}

// The user service, caches off, is the origin of a proxy: what a client
// writes through the proxy is what it reads through it.
func TestProxyInFrontOfTheUserService(t *testing.T) {
	t.Parallel()
	users := startProcess(t, "-store", "memory", "-redis", "off", "-l1-bytes", "0")
	p, _ := startProxy(t, nil, "-origin", users.base, "-redis", redistest.Start(t).URL())
	url := p.base + "/user/kiran"
	get := func(what string, status int, email string) {
		t.Helper()
		r := do(t, "GET", url, "")
		if r.status != status || !strings.Contains(r.body, email) {
			t.Fatalf("GET %s = %d %q %q; want %d with %q", what, r.status, r.body, r.cacheStatus, status, email)
		}
	}
	get("before the registration", 404, "User not found.")
	get("before the registration, again", 404, "User not found.") // a cached 404
	r := register(t, p.base, "kiran")
	if r.status != 201 || ours(r.cacheStatus) != "tiercache; fwd=method" {
		t.Fatalf("POST /register through the proxy = %d %q %q; want 201, fwd=method", r.status, r.body, r.cacheStatus)
	}
	get("after the registration", 200, "kiran@example.com") // its Location was invalidated
	get("after the registration, again", 200, "kiran@example.com")
	if r := do(t, "GET", url, ""); !strings.HasPrefix(ours(r.cacheStatus), "tiercache; hit") {
		t.Fatalf("third GET: Cache-Status %q; want a hit", r.cacheStatus)
	}
	if r := do(t, "PUT", url, `{"email":"kiran@example.org"}`); r.status != 200 {
		t.Fatalf("PUT through the proxy = %d %q", r.status, r.body)
	}
	get("after the update", 200, "kiran@example.org")
	if r := do(t, "DELETE", url, ""); r.status != 200 {
		t.Fatalf("DELETE through the proxy = %d %q", r.status, r.body)
	}
	get("after the delete", 404, "User not found.")
}

// tiercache healthcheck -url …/_tiercache/healthz exits 0 against a proxy.
func TestProxyHealthcheck(t *testing.T) {
	t.Parallel()
	o := origintest.Start(t)
	p, _ := startProxy(t, nil, "-origin", o.URL(), "-redis", "off")
	r := runBinary(t, nil, "healthcheck", "-url", p.base+"/_tiercache/healthz")
	if r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("healthcheck against a proxy: exit %d, %q %q; want 0 and ok", r.code, r.stdout, r.stderr)
	}
}

// A 401 to PURGE carries WWW-Authenticate, and a 405 to PURGE (no token
// set) carries Allow, as RFC 9110 requires of those statuses.
func TestProxyPurgeChallenge(t *testing.T) {
	t.Parallel()
	o := origintest.Start(t)
	with, _ := startProxy(t, []string{"TIERCACHE_PURGE_TOKEN=" + purgeToken}, "-origin", o.URL(), "-redis", "off")
	without, _ := startProxy(t, nil, "-origin", o.URL(), "-redis", "off")
	if r, hdr := doHeader(t, "PURGE", with.base+"/a", ""); r.status != 401 || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("PURGE without a token = %d, WWW-Authenticate %q; want 401 with a challenge", r.status, hdr.Get("WWW-Authenticate"))
	}
	if r, hdr := doHeader(t, "PURGE", without.base+"/a", ""); r.status != 405 || hdr.Get("Allow") == "" {
		t.Errorf("PURGE with none set = %d, Allow %q; want 405 with Allow", r.status, hdr.Get("Allow"))
	}
}

// proxyACL returns the arguments of the README's "ACL SETUSER
// tiercache-proxy" line, with password in place of CHANGE-ME.
func proxyACL(t *testing.T, password string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(readme)) {
		if strings.HasPrefix(line, "ACL SETUSER tiercache-proxy ") {
			return strings.Fields(strings.ReplaceAll(line, ">CHANGE-ME", ">"+password))
		}
	}
	t.Fatal(`README.md has no line starting "ACL SETUSER tiercache-proxy "`)
	return nil
}

// Two proxies logged in to Redis as the README's proxy ACL user: a fill, a
// hit on the other, a write, a purge, with Redis refusing nothing.
func TestProxyREADMEACLServes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	if _, err := srv.Do(proxyACL(t, secret)...); err != nil {
		t.Fatal(err)
	}
	o := origintest.Start(t)
	o.Put("/a", "one")
	o.Set("/a", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=3600"}}})
	env := []string{"TIERCACHE_REDIS_URL=redis://tiercache-proxy:" + secret + "@" + strings.TrimPrefix(srv.URL(), "redis://"),
		"TIERCACHE_PURGE_TOKEN=" + purgeToken}
	a, _ := startProxy(t, env, "-origin", o.URL())
	b, _ := startProxy(t, env, "-origin", o.URL())
	do(t, "GET", a.base+"/a", "")
	if r := do(t, "GET", b.base+"/a", ""); !strings.HasPrefix(r.cacheStatus, "tiercache; hit; detail=l2") {
		t.Fatalf("GET on b = %d %q %q; want an L2 hit", r.status, r.body, r.cacheStatus)
	}
	if r := do(t, "PUT", a.base+"/a", "two"); r.status != 200 {
		t.Fatalf("PUT = %d %q", r.status, r.body)
	}
	pollUntil(t, "the write to reach b", func() bool { return do(t, "GET", b.base+"/a", "").body == "two" })
	if r, _ := doHeader(t, "PURGE", b.base+"/a", "", "Authorization", "Bearer "+purgeToken); r.status != 200 {
		t.Fatalf("PURGE = %d %q", r.status, r.body)
	}
	pollUntil(t, "the purge to reach a", func() bool { return !strings.Contains(do(t, "GET", a.base+"/a", "").cacheStatus, "hit") })
	for _, base := range []string{a.base, b.base} {
		if r := do(t, "GET", base+"/_tiercache/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"redis":"ok"`) {
			t.Fatalf("readyz = %d %s; want redis ok", r.status, r.body)
		}
		if r := do(t, "GET", base+"/_tiercache/metrics", ""); !strings.Contains(r.body, "tiercache_l2_refused_total 0\n") {
			t.Fatalf("metrics of %s show refused calls:\n%s", base, r.body)
		}
	}
	if n, err := srv.Do("ACL", "LOG"); err != nil || n != "0" {
		t.Fatalf("ACL LOG has %s entries (%v); want none", n, err)
	}
}

// ours returns the proxy's member of a Cache-Status list: the last, after
// the origin's own (RFC 9211).
func ours(cs string) string {
	if i := strings.LastIndex(cs, ", "); i >= 0 {
		return cs[i+2:]
	}
	return cs
}

// A Redis user that may read and write values but not run the version
// counter's INCR and PEXPIRE (the user service's ACL line, on the proxy's
// keys) stops the proxy at start, in one line: its writes could not
// invalidate other instances.
func TestProxyRefusesRedisWithoutCounters(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	args := redistest.READMEACL(t, secret)
	for i, a := range args {
		if a == "~tiercache:user:*" {
			args[i] = "~tiercache:proxy:*"
		}
	}
	if _, err := srv.Do(args...); err != nil {
		t.Fatal(err)
	}
	url := "redis://tiercache:" + secret + "@" + strings.TrimPrefix(srv.URL(), "redis://")
	r := runBinary(t, []string{"TIERCACHE_REDIS_URL=" + url}, "proxy", "-listen", freeAddr(t), "-origin", "http://127.0.0.1:1")
	want := "tiercache: redis refused the proxy's version counters"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, secret) {
		t.Fatalf("exit %d, stderr %q; want 1 and one line starting %q, without the password", r.code, r.stderr, want)
	}
}
