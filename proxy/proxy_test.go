package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/internal/origintest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/valyala/fasthttp"
)

// instance is one proxy served on a loopback port.
type instance struct {
	p   *Proxy
	url string
}

var prefixes atomic.Int64

// startProxies starts n proxies in front of origin, sharing a new Redis,
// each adjusted by tweak when it is set.
func startProxies(t *testing.T, origin string, n int, cfg Config, tweak func(*Proxy)) []*instance {
	t.Helper()
	return start(t, origin, n, cfg, tweak, redistest.Start(t))
}

// startSolo starts one proxy without Redis.
func startSolo(t *testing.T, origin string, cfg Config) *instance {
	t.Helper()
	return start(t, origin, 1, cfg, nil, nil)[0]
}

func start(t *testing.T, origin string, n int, cfg Config, tweak func(*Proxy), srv *redistest.Server) []*instance {
	t.Helper()
	prefix := fmt.Sprintf("proxy%d:", prefixes.Add(1))
	var out []*instance
	for range n {
		c := cfg
		c.Origin = origin
		c.Logger = slog.New(slog.DiscardHandler)
		l1, err := ristretto.New(ristretto.Config{MaxBytes: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l1.Close)
		c.Cache.L1 = l1
		if srv != nil {
			l2, err := redis.New(redis.Config{URL: srv.URL(), Prefix: prefix, Timeout: time.Second, Logger: c.Logger})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l2.Close)
			c.Cache.L2, c.Versions = l2, l2
		}
		p, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if tweak != nil {
			tweak(p)
		}
		out = append(out, &instance{p: p, url: serve(t, p.Handler)})
	}
	return out
}

// serve serves h on a loopback port until the test ends.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, Name: "tiercache", NoDefaultContentType: true}
	done := make(chan struct{})
	go func() { _ = s.Serve(ln); close(done) }()
	t.Cleanup(func() { _ = s.Shutdown(); <-done })
	return "http://" + ln.Addr().String()
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) cacheStatus() string { return a.header.Get("Cache-Status") }

var client = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	Timeout:   10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// do sends a request; header holds name, value pairs.
func do(t testing.TB, method, url, body string, header ...string) answer {
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func cacheable(maxAge int) origintest.Behavior {
	return origintest.Behavior{Header: http.Header{"Cache-Control": {fmt.Sprintf("max-age=%d", maxAge)}}}
}

// wantCS checks that a's Cache-Status starts with prefix.
func wantCS(t *testing.T, what string, a answer, status int, body, prefix string) {
	t.Helper()
	if a.status != status || a.body != body || !strings.HasPrefix(a.cacheStatus(), prefix) {
		t.Fatalf("%s = %d %q, Cache-Status %q; want %d %q, Cache-Status %q…", what, a.status, a.body, a.cacheStatus(), status, body, prefix)
	}
}

func TestMissThenHits(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/a", "hello")
	o.Set("/a", cacheable(60))
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	wantCS(t, "first GET", do(t, "GET", in.url+"/a", ""), 200, "hello", "tiercache; fwd=miss; stored; ttl=")
	wantCS(t, "second GET", do(t, "GET", in.url+"/a", ""), 200, "hello", "tiercache; hit; detail=l2; ttl=")
	third := do(t, "GET", in.url+"/a", "")
	wantCS(t, "third GET", third, 200, "hello", "tiercache; hit; detail=l1; ttl=")
	if third.header.Get("Etag") == "" || third.header.Get("Age") == "" {
		t.Errorf("a hit lacks ETag or Age: %v", third.header)
	}
	wantCS(t, "HEAD", do(t, "HEAD", in.url+"/a", ""), 200, "", "tiercache; hit; detail=l1")
	if n := o.Count("", "/a"); n != 1 {
		t.Fatalf("the origin saw %d requests; want 1", n)
	}
	// A 404 is cached too.
	o.Set("/gone", cacheable(60))
	first := do(t, "GET", in.url+"/gone", "")
	wantCS(t, "404 again", do(t, "GET", in.url+"/gone", ""), 404, first.body, "tiercache; hit")
	if n := o.Count("GET", "/gone"); n != 1 {
		t.Fatalf("the origin saw %d GETs of a cached 404; want 1", n)
	}
}

// Answers that must not be shared, and requests that carry credentials,
// reach the origin every time.
func TestNotCached(t *testing.T) {
	o := origintest.Start(t)
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	cases := []struct {
		name   string
		header http.Header
		req    []string
	}{
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, nil},
		{"private", http.Header{"Cache-Control": {"private, max-age=60"}}, nil},
		{"set-cookie", http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"s=1"}}, nil},
		{"vary-star", http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"*"}}, nil},
		{"authorization", http.Header{"Cache-Control": {"max-age=60"}}, []string{"Authorization", "Bearer x"}},
		{"cookie", http.Header{"Cache-Control": {"max-age=60"}}, []string{"Cookie", "s=1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/" + tc.name
			o.Put(path, tc.name)
			o.Set(path, origintest.Behavior{Header: tc.header})
			for i := range 3 {
				a := do(t, "GET", in.url+path, "", tc.req...)
				if a.status != 200 || a.body != tc.name || strings.Contains(a.cacheStatus(), "hit") {
					t.Fatalf("GET %d = %d %q, %q; want the origin's answer, not a hit", i, a.status, a.body, a.cacheStatus())
				}
			}
			if n := o.Count("GET", path); n != 3 {
				t.Fatalf("the origin saw %d GETs; want 3", n)
			}
		})
	}
}

// A write through one proxy is seen through the others; the writer sees it
// at once.
func TestWriteInvalidatesEveryInstance(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/item", "v1")
	o.Set("/item", cacheable(3600))
	ins := startProxies(t, o.URL(), 3, Config{}, nil)
	warm(t, ins, "/item", "v1")
	for i, body := range []string{"v2", "v3"} {
		w := ins[i]
		if got := do(t, "PUT", w.url+"/item", body); got.status != 200 {
			t.Fatalf("PUT = %d %q", got.status, got.body)
		}
		wantCS(t, "GET through the writer", do(t, "GET", w.url+"/item", ""), 200, body, "tiercache; fwd=miss; stored")
		for _, in := range ins {
			waitFor(t, "the write to reach "+in.url, func() bool {
				return do(t, "GET", in.url+"/item", "").body == body
			})
		}
	}
	// DELETE, and a POST whose Location names another cached URI.
	o.Put("/list/9", "child")
	o.Set("/list/9", cacheable(3600))
	warm(t, ins, "/list/9", "child")
	if got := do(t, "DELETE", ins[0].url+"/list/9", ""); got.status != 204 {
		t.Fatalf("DELETE = %d", got.status)
	}
	for _, in := range ins {
		waitFor(t, "the delete to reach "+in.url, func() bool {
			return do(t, "GET", in.url+"/list/9", "").status == 404
		})
	}
}

// warm reads path through every instance until each answers it from L1.
func warm(t *testing.T, ins []*instance, path, body string) {
	t.Helper()
	for _, in := range ins {
		waitFor(t, "an L1 hit of "+path, func() bool {
			a := do(t, "GET", in.url+path, "")
			if a.body != body {
				t.Fatalf("GET %s = %q; want %q", path, a.body, body)
			}
			return strings.Contains(a.cacheStatus(), "detail=l1")
		})
	}
}

// A fill that read the old answer at the origin before a write, and
// arrives after the write was acknowledged, lands in no tier: the next
// read through any instance answers the write.
func TestFillRaceIsDiscarded(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/race", "old")
	o.Set("/race", cacheable(3600))
	ins := startProxies(t, o.URL(), 2, Config{}, nil)
	a, b := ins[0], ins[1]
	hold := o.Hold("/race")
	late := make(chan answer, 1)
	go func() { late <- do(t, "GET", b.url+"/race", "") }()
	hold.Wait(1) // b's fill has read "old" at the origin
	if got := do(t, "PUT", a.url+"/race", "new"); got.status != 200 {
		t.Fatalf("PUT = %d", got.status)
	}
	hold.Release()
	if got := <-late; got.body != "old" {
		t.Fatalf("the held GET answered %q; want the old body it read", got.body)
	}
	for _, in := range []*instance{b, a, b} {
		if got := do(t, "GET", in.url+"/race", ""); got.body != "new" {
			t.Fatalf("GET through %s after the write = %q (%s); want new", in.url, got.body, got.cacheStatus())
		}
	}
}

// 1,000 concurrent GETs of a cold key cost one origin request per
// instance.
func TestMissesCoalesce(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/cold", "body")
	o.Set("/cold", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=60"}}, Delay: 300 * time.Millisecond})
	ins := startProxies(t, o.URL(), 3, Config{}, nil)
	const readers = 1000
	var wg sync.WaitGroup
	var bad atomic.Int64
	start := make(chan struct{})
	for i := range readers {
		wg.Go(func() {
			<-start
			if a := do(t, "GET", ins[i%len(ins)].url+"/cold", ""); a.status != 200 || a.body != "body" {
				bad.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d GETs did not get the body", bad.Load(), readers)
	}
	if n := o.Count("GET", "/cold"); n > len(ins) {
		t.Fatalf("%d concurrent GETs through %d instances made %d origin requests; want at most one per instance", readers, len(ins), n)
	}
}

// clock is a settable time for freshness.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A stale answer is refreshed; when the origin fails, it is served within
// stale-if-error, and after that the failure shows.
func TestStaleIfError(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/s", "one")
	o.Set("/s", cacheable(10))
	clk := &clock{t: time.Now()}
	in := startProxies(t, o.URL(), 1, Config{StaleIfError: time.Minute}, func(p *Proxy) { p.now = clk.now })[0]
	warm(t, []*instance{in}, "/s", "one")

	clk.advance(20 * time.Second)
	o.Put("/s", "two")
	wantCS(t, "GET when stale", do(t, "GET", in.url+"/s", ""), 200, "two", "tiercache; fwd=stale; stored")

	clk.advance(20 * time.Second)
	for _, fail := range []origintest.Behavior{
		{Status: 503, Header: http.Header{"Cache-Control": {"max-age=10"}}},
		{Fail: origintest.FailClose, Header: http.Header{"Cache-Control": {"max-age=10"}}},
	} {
		o.Set("/s", fail)
		wantCS(t, "GET when stale and the origin fails", do(t, "GET", in.url+"/s", ""), 200, "two", "tiercache; fwd=stale; detail=stale-if-error")
	}
	clk.advance(2 * time.Minute) // past stale-if-error
	o.Set("/s", origintest.Behavior{Status: 503, Body: "down"})
	wantCS(t, "GET past stale-if-error, origin 503", do(t, "GET", in.url+"/s", ""), 503, "down", "tiercache; fwd=miss")
	o.Set("/s", origintest.Behavior{Fail: origintest.FailClose})
	a := do(t, "GET", in.url+"/s", "")
	if a.status != 502 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET past stale-if-error, origin gone = %d %q; want 502 in JSON", a.status, a.body)
	}
}

// A request with an origin that does not answer in time gets 504.
func TestOriginTimeout(t *testing.T) {
	o := origintest.Start(t)
	o.Set("/hang", origintest.Behavior{Fail: origintest.FailHang})
	in := startProxies(t, o.URL(), 1, Config{OriginTimeout: 200 * time.Millisecond}, nil)[0]
	if a := do(t, "GET", in.url+"/hang", ""); a.status != 504 {
		t.Fatalf("GET of a hanging origin = %d %q; want 504", a.status, a.body)
	}
}

// Validators are answered 304 from the cache.
func TestConditionalRequests(t *testing.T) {
	o := origintest.Start(t)
	v := o.Put("/c", "body")
	o.Set("/c", cacheable(60))
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	warm(t, []*instance{in}, "/c", "body")
	first := do(t, "GET", in.url+"/c", "")
	lm := first.header.Get("Last-Modified")
	for _, tc := range []struct {
		header []string
		status int
	}{
		{[]string{"If-None-Match", origintest.ETag(v)}, 304},
		{[]string{"If-None-Match", `W/` + origintest.ETag(v)}, 304},
		{[]string{"If-None-Match", `"nope", ` + origintest.ETag(v)}, 304},
		{[]string{"If-None-Match", `"nope"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, 200},
	} {
		a := do(t, "GET", in.url+"/c", "", tc.header...)
		if a.status != tc.status || !strings.Contains(a.cacheStatus(), "hit") {
			t.Errorf("GET with %q = %d, %q; want %d from the cache", tc.header, a.status, a.cacheStatus(), tc.status)
		}
		if a.status == 304 && (a.body != "" || a.header.Get("Etag") == "") {
			t.Errorf("304 with body %q and ETag %q; want no body and the ETag", a.body, a.header.Get("Etag"))
		}
	}
	if n := o.Count("GET", "/c"); n != 1 {
		t.Fatalf("the origin saw %d GETs; want 1", n)
	}
}

// An answer that varies on a request header serves only the requests with
// the value it was stored for.
func TestVary(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/v", "hi")
	o.Set("/v", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept-Language"}}})
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	en := []string{"Accept-Language", "en"}
	first := do(t, "GET", in.url+"/v", "", en...)
	wantCS(t, "GET en", do(t, "GET", in.url+"/v", "", en...), 200, first.body, "tiercache; hit")
	fr := do(t, "GET", in.url+"/v", "", "Accept-Language", "fr")
	if !strings.Contains(fr.body, "fr") || fr.cacheStatus() != "tiercache; fwd=vary-miss" {
		t.Fatalf("GET fr = %q, %q; want the origin's fr variant, a vary-miss", fr.body, fr.cacheStatus())
	}
}

// PURGE invalidates on every instance, with the token only.
func TestPurge(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/p", "body")
	o.Set("/p", cacheable(3600))
	ins := startProxies(t, o.URL(), 2, Config{PurgeToken: "s3cret"}, nil)
	warm(t, ins, "/p", "body")
	if a := do(t, "PURGE", ins[0].url+"/p", ""); a.status != 401 {
		t.Fatalf("PURGE without a token = %d; want 401", a.status)
	}
	if a := do(t, "PURGE", ins[0].url+"/p", "", "Authorization", "Bearer wrong"); a.status != 401 {
		t.Fatalf("PURGE with a wrong token = %d; want 401", a.status)
	}
	if a := do(t, "GET", ins[1].url+"/p", ""); !strings.Contains(a.cacheStatus(), "hit") {
		t.Fatalf("a refused PURGE purged: %q", a.cacheStatus())
	}
	if a := do(t, "PURGE", ins[0].url+"/p", "", "Authorization", "Bearer s3cret"); a.status != 200 {
		t.Fatalf("PURGE with the token = %d %q; want 200", a.status, a.body)
	}
	before := o.Count("GET", "/p")
	waitFor(t, "the purge to reach the other instance", func() bool {
		return !strings.Contains(do(t, "GET", ins[1].url+"/p", "").cacheStatus(), "hit")
	})
	if o.Count("GET", "/p") == before {
		t.Fatal("the origin saw no GET after the purge")
	}
	// Without a token, PURGE is off.
	off := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	if a := do(t, "PURGE", off.url+"/p", "", "Authorization", "Bearer s3cret"); a.status != 405 {
		t.Fatalf("PURGE without a configured token = %d; want 405", a.status)
	}
}

// The origin gets X-Forwarded-*, not the client's hop-by-hop headers.
func TestForwardedHeaders(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/h", "x")
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	for _, method := range []string{"GET", "PUT"} {
		do(t, method, in.url+"/h", "y", "Connection", "X-Secret", "X-Secret", "1", "Keep-Alive", "timeout=5", "X-Kept", "2")
		r, ok := o.Last("/h")
		if !ok {
			t.Fatal("no request reached the origin")
		}
		h := r.Header
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Host") == "" {
			t.Errorf("%s: X-Forwarded-* = %q %q %q", method, h.Get("X-Forwarded-For"), h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"))
		}
		if h.Get("X-Secret") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Kept") != "2" {
			t.Errorf("%s: the origin got X-Secret %q, Keep-Alive %q, X-Kept %q; want only X-Kept", method, h.Get("X-Secret"), h.Get("Keep-Alive"), h.Get("X-Kept"))
		}
	}
}

// An answer above MaxObjectBytes is served whole and not cached.
func TestLargeAnswersPassThrough(t *testing.T) {
	o := origintest.Start(t)
	big := strings.Repeat("x", 5000)
	o.Put("/big", big)
	o.Set("/big", cacheable(60))
	in := startProxies(t, o.URL(), 1, Config{MaxObjectBytes: 1024}, nil)[0]
	for i := range 3 {
		if a := do(t, "GET", in.url+"/big", ""); a.status != 200 || a.body != big {
			t.Fatalf("GET %d = %d, %d bytes; want the whole body", i, a.status, len(a.body))
		}
	}
	if a := do(t, "GET", in.url+"/big", ""); a.cacheStatus() != "tiercache; fwd=bypass" {
		t.Fatalf("Cache-Status = %q; want a bypass", a.cacheStatus())
	}
}

// Without Redis, a proxy still caches and answers; with Redis down, it
// serves from L1 and the origin, and a write through it is still seen
// through it.
func TestRedisDown(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/d", "body")
	o.Set("/d", cacheable(60))
	solo := startSolo(t, o.URL(), Config{})
	warm(t, []*instance{solo}, "/d", "body")
	if got := do(t, "PUT", solo.url+"/d", "new"); got.status != 200 {
		t.Fatal(got.status)
	}
	if a := do(t, "GET", solo.url+"/d", ""); a.body != "new" {
		t.Fatalf("GET after a write without Redis = %q; want new", a.body)
	}

	o.Put("/e", "one")
	o.Set("/e", cacheable(60))
	srv := redistest.Start(t)
	in := start(t, o.URL(), 1, Config{}, nil, srv)[0]
	warm(t, []*instance{in}, "/e", "one")
	srv.Stop()
	for i := range 3 {
		if a := do(t, "GET", in.url+"/e", ""); a.status != 200 || a.body != "one" {
			t.Fatalf("GET %d with Redis down = %d %q; want 200 one", i, a.status, a.body)
		}
	}
	if got := do(t, "PUT", in.url+"/e", "two"); got.status != 200 {
		t.Fatalf("PUT with Redis down = %d %q; want 200", got.status, got.body)
	}
	for i := range 3 {
		if a := do(t, "GET", in.url+"/e", ""); a.status != 200 || a.body != "two" {
			t.Fatalf("GET %d after a write with Redis down = %d %q; want 200 two", i, a.status, a.body)
		}
	}
}

// waitFor polls cond until it holds; it fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The origin's own Cache-Status is kept, ours after it (RFC 9211); a 501
// is cached like a 404; an answer without Content-Type gets none.
func TestAnswersKeepTheirHeaders(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/cs", "x")
	o.Set("/cs", origintest.Behavior{Header: http.Header{"Cache-Control": {"max-age=60"}, "Cache-Status": {"upstream; hit"}}})
	o.Set("/nyi", origintest.Behavior{Status: 501})
	o.Set("/empty", origintest.Behavior{Status: 204, Header: http.Header{"Cache-Control": {"max-age=60"}}})
	in := startProxies(t, o.URL(), 1, Config{}, nil)[0]
	wantCS(t, "first GET", do(t, "GET", in.url+"/cs", ""), 200, "x", "upstream; hit, tiercache; fwd=miss; stored")
	wantCS(t, "second GET", do(t, "GET", in.url+"/cs", ""), 200, "x", "upstream; hit, tiercache; hit; detail=l2")
	for range 2 {
		if a := do(t, "GET", in.url+"/nyi", ""); a.status != 501 {
			t.Fatalf("GET of a 501 = %d", a.status)
		}
	}
	if n := o.Count("GET", "/nyi"); n != 1 {
		t.Fatalf("the origin saw %d GETs of a 501; want 1 (cached)", n)
	}
	for i := range 2 {
		a := do(t, "GET", in.url+"/empty", "")
		if a.status != 204 || a.header.Get("Content-Type") != "" {
			t.Fatalf("GET %d of a 204 = %d with Content-Type %q; want none", i, a.status, a.header.Get("Content-Type"))
		}
	}
}

// rawGet sends GET path, with the header lines in extra, to the server at
// url and returns the answer's bytes.
func rawGet(t *testing.T, url, path string, extra ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, line := range extra {
		req += line + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A hit writes the stored header names without normalizing them again:
// they are stored as the client normalized them, so a name the origin
// sent in lower case is canonical on the wire, on a miss and on a hit.
func TestHitHeaderNamesCanonical(t *testing.T) {
	o := origintest.Start(t)
	o.Put("/h", "body")
	o.Set("/h", origintest.Behavior{Header: http.Header{"cache-control": {"max-age=60"}, "x-lower-name": {"v"}}})
	in := startSolo(t, o.URL(), Config{})
	for _, what := range []string{"miss", "hit"} {
		got := rawGet(t, in.url, "/h")
		head, _, _ := strings.Cut(got, "\r\n\r\n")
		if !strings.Contains(head, "\r\nX-Lower-Name: v\r\n") || !strings.Contains(head, "\r\nCache-Control: max-age=60\r\n") ||
			strings.Contains(head, "x-lower-name") {
			t.Errorf("%s: got header %q; want X-Lower-Name and Cache-Control in canonical form", what, head)
		}
		if what == "hit" && !strings.Contains(head, "\r\nCache-Status: tiercache; hit; detail=l1") {
			t.Errorf("%s: got header %q; want an L1 hit", what, head)
		}
	}
}

// Request header names in any case count on a hit: the proxy looks up
// Authorization, Cookie, If-None-Match and If-Modified-Since by their
// canonical names, which the server gave them when it read the request.
func TestHitRequestHeadersAnyCase(t *testing.T) {
	o := origintest.Start(t)
	v := o.Put("/c", "body")
	o.Set("/c", cacheable(60))
	in := startSolo(t, o.URL(), Config{})
	rawGet(t, in.url, "/c") // fills L1
	for _, c := range []struct {
		line, want string
	}{
		{"", "HTTP/1.1 200 OK\r\n"},
		{"if-none-match: " + origintest.ETag(v), "HTTP/1.1 304 Not Modified\r\n"},
		{"IF-MODIFIED-SINCE: Sun, 06 Nov 2044 08:49:37 GMT", "HTTP/1.1 304 Not Modified\r\n"},
		{"authorization: Bearer x", "Cache-Status: tiercache; fwd=request"},
		{"cookie: a=b", "Cache-Status: tiercache; fwd=request"},
	} {
		var extra []string
		if c.line != "" {
			extra = append(extra, c.line)
		}
		if got := rawGet(t, in.url, "/c", extra...); !strings.Contains(got, c.want) {
			t.Errorf("with %q: got %q; want it to contain %q", c.line, got, c.want)
		}
	}
}
