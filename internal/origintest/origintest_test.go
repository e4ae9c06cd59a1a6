package origintest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var client = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends one request; hdr is name, value pairs.
func do(t *testing.T, method, url, body string, hdr ...string) reply {
	t.Helper()
	r, err := doCtx(context.Background(), method, url, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func doCtx(ctx context.Context, method, url, body string, hdr ...string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

func want(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

// eventually waits until cond holds, and fails the test after a bounded wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after ten seconds", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (o *Origin) running() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active
}

func TestStore(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"

	r := do(t, "GET", u, "")
	want(t, "GET of absent status", r.status, 404)
	want(t, "GET of absent body", r.body, "not found\n")

	r = do(t, "PUT", u, "one", "Content-Type", "application/json")
	want(t, "first PUT status", r.status, 201)
	want(t, "first PUT ETag", r.header.Get("ETag"), `"1"`)
	r = do(t, "PUT", u, "two", "Content-Type", "application/json")
	want(t, "second PUT status", r.status, 200)
	want(t, "second PUT ETag", r.header.Get("ETag"), `"2"`)

	r = do(t, "GET", u, "")
	want(t, "GET status", r.status, 200)
	want(t, "GET body", r.body, "two")
	want(t, "GET ETag", r.header.Get("ETag"), ETag(2))
	want(t, "GET Content-Type", r.header.Get("Content-Type"), "application/json")
	want(t, "GET Last-Modified", r.header.Get("Last-Modified"), o.LastModified(2).UTC().Format(http.TimeFormat))

	r = do(t, "HEAD", u, "")
	want(t, "HEAD status", r.status, 200)
	want(t, "HEAD body", r.body, "")
	want(t, "HEAD Content-Length", r.header.Get("Content-Length"), "3")
	want(t, "HEAD ETag", r.header.Get("ETag"), `"2"`)

	r = do(t, "PATCH", u, "+three")
	want(t, "PATCH status", r.status, 200)
	want(t, "PATCH ETag", r.header.Get("ETag"), `"3"`)
	want(t, "body after PATCH", do(t, "GET", u, "").body, "two+three")
	want(t, "Content-Type after PATCH", do(t, "GET", u, "").header.Get("Content-Type"), "application/json")

	r = do(t, "POST", u+"/", "child")
	want(t, "POST status", r.status, 201)
	want(t, "POST Location", r.header.Get("Location"), "/a/4")
	want(t, "POST ETag", r.header.Get("ETag"), `"4"`)
	want(t, "child body", do(t, "GET", o.URL()+"/a/4", "").body, "child")

	want(t, "DELETE status", do(t, "DELETE", u, "").status, 204)
	want(t, "GET after DELETE", do(t, "GET", u, "").status, 404)
	want(t, "second DELETE status", do(t, "DELETE", u, "").status, 404)
	want(t, "PATCH of absent status", do(t, "PATCH", u, "x").status, 404)
	want(t, "PUT after DELETE ETag", do(t, "PUT", u, "again").header.Get("ETag"), `"6"`)

	r = do(t, "OPTIONS", u, "")
	want(t, "OPTIONS status", r.status, 405)
	want(t, "OPTIONS Allow", r.header.Get("Allow"), "GET, HEAD, PUT, POST, PATCH, DELETE")

	o.Put("/b", "seeded")
	body, v, ok := o.Lookup("/b")
	want(t, "Lookup", fmt.Sprintf("%s %d %t", body, v, ok), "seeded 7 true")
	want(t, "GET of seeded", do(t, "GET", o.URL()+"/b", "").body, "seeded")
	want(t, "PUT of seeded counted", o.Count("PUT", "/b"), 0)
}

func TestQueryNamesAResource(t *testing.T) {
	o := Start(t)
	o.Put("/q?x=1", "one")
	o.Put("/q?x=2", "two")
	want(t, "x=1", do(t, "GET", o.URL()+"/q?x=1", "").body, "one")
	want(t, "x=2", do(t, "GET", o.URL()+"/q?x=2", "").body, "two")
	want(t, "no query", do(t, "GET", o.URL()+"/q", "").status, 404)
	want(t, "count x=1", o.Count("GET", "/q?x=1"), 1)
}

func TestLastModifiedMovesOnEachWrite(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	var prev time.Time
	for i := range 3 {
		r := do(t, "PUT", u, strconv.Itoa(i))
		lm, err := http.ParseTime(r.header.Get("Last-Modified"))
		if err != nil {
			t.Fatal(err)
		}
		date, err := http.ParseTime(r.header.Get("Date"))
		if err != nil {
			t.Fatal(err)
		}
		if !lm.After(prev) || lm.After(date) {
			t.Fatalf("write %d: Last-Modified %v, previous %v, Date %v", i, lm, prev, date)
		}
		prev = lm
	}
}

func TestConditional(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	o.Set("/a", Behavior{Header: http.Header{"Cache-Control": {"max-age=60"}}})
	v := o.Put("/a", "body")
	lm := o.LastModified(v).UTC().Format(http.TimeFormat)
	before := o.LastModified(v).Add(-time.Second).UTC().Format(http.TimeFormat)

	for _, c := range []struct {
		hdr    []string
		status int
	}{
		{[]string{"If-None-Match", ETag(v)}, 304},
		{[]string{"If-None-Match", `W/"1"`}, 304},
		{[]string{"If-None-Match", `"9", "1"`}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"9"`}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", before}, 200},
		{[]string{"If-Modified-Since", "garbage"}, 200},
		{[]string{"If-None-Match", `"9"`, "If-Modified-Since", lm}, 200},
	} {
		r := do(t, "GET", u, "", c.hdr...)
		want(t, fmt.Sprint(c.hdr, " status"), r.status, c.status)
		want(t, fmt.Sprint(c.hdr, " ETag"), r.header.Get("ETag"), ETag(v))
		want(t, fmt.Sprint(c.hdr, " Cache-Control"), r.header.Get("Cache-Control"), "max-age=60")
		if c.status == 304 {
			want(t, fmt.Sprint(c.hdr, " body"), r.body, "")
			want(t, fmt.Sprint(c.hdr, " Last-Modified"), r.header.Get("Last-Modified"), lm)
		}
	}
	want(t, "HEAD with matching If-None-Match", do(t, "HEAD", u, "", "If-None-Match", ETag(v)).status, 304)
	want(t, "If-None-Match * of absent", do(t, "GET", o.URL()+"/none", "", "If-None-Match", "*").status, 404)
}

func TestBehaviorHeaders(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	h := http.Header{
		"Cache-Control": {"no-store"},
		"Set-Cookie":    {"s=1", "t=2"},
		"Expires":       {"Thu, 01 Jan 1970 00:00:00 GMT"},
		"Content-Type":  {"text/html"},
	}
	o.Set("/a", Behavior{Header: h})
	h.Set("Cache-Control", "changed after Set")

	r := do(t, "GET", u, "")
	want(t, "404 Cache-Control", r.header.Get("Cache-Control"), "no-store")
	o.Put("/a", "x")
	r = do(t, "GET", u, "")
	want(t, "Cache-Control", r.header.Get("Cache-Control"), "no-store")
	want(t, "Set-Cookie", strings.Join(r.header.Values("Set-Cookie"), "|"), "s=1|t=2")
	want(t, "Expires", r.header.Get("Expires"), "Thu, 01 Jan 1970 00:00:00 GMT")
	want(t, "Content-Type", r.header.Get("Content-Type"), "text/html")

	o.Set("/a", Behavior{})
	r = do(t, "GET", u, "")
	want(t, "Cache-Control after clearing", r.header.Get("Cache-Control"), "")
	want(t, "Content-Type after clearing", r.header.Get("Content-Type"), defaultType)
}

func TestVary(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	o.Set("/a", Behavior{Header: http.Header{"Vary": {"accept-language, X-Mode"}}})
	v := o.Put("/a", "hello")

	en := do(t, "GET", u, "", "Accept-Language", "en", "X-Mode", "a b")
	want(t, "en body", en.body, "hello\nAccept-Language: en\nX-Mode: a b")
	want(t, "en ETag", en.header.Get("ETag"), fmt.Sprintf(`"%d;en;a+b"`, v))
	fr := do(t, "GET", u, "", "Accept-Language", "fr")
	want(t, "fr body", fr.body, "hello\nAccept-Language: fr\nX-Mode: ")
	want(t, "fr ETag", fr.header.Get("ETag"), fmt.Sprintf(`"%d;fr;"`, v))
	want(t, "Vary", en.header.Get("Vary"), "accept-language, X-Mode")

	want(t, "fr revalidated with fr's ETag", do(t, "GET", u, "", "Accept-Language", "fr", "If-None-Match", fr.header.Get("ETag")).status, 304)
	want(t, "fr revalidated with en's ETag", do(t, "GET", u, "", "Accept-Language", "fr", "If-None-Match", en.header.Get("ETag")).status, 200)

	o.Set("/a", Behavior{Header: http.Header{"Vary": {"*"}}})
	want(t, "Vary * body", do(t, "GET", u, "").body, "hello")
}

func TestStatus(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	o.Put("/a", "stored")

	o.Set("/a", Behavior{Status: 503})
	r := do(t, "GET", u, "")
	want(t, "503 status", r.status, 503)
	want(t, "503 body", r.body, "Service Unavailable\n")
	want(t, "PUT under 503", do(t, "PUT", u, "lost").status, 503)
	body, _, _ := o.Lookup("/a")
	want(t, "store after PUT under 503", body, "stored")

	o.Set("/a", Behavior{Status: 301, Header: http.Header{"Location": {"/b"}}, Body: "moved"})
	r = do(t, "GET", u, "")
	want(t, "301 status", r.status, 301)
	want(t, "301 Location", r.header.Get("Location"), "/b")
	want(t, "301 body", r.body, "moved")

	o.Set("/a", Behavior{Status: 410})
	want(t, "410 status", do(t, "GET", u, "").status, 410)
	o.Set("/a", Behavior{Status: 204})
	want(t, "204 body", do(t, "GET", u, "").body, "")

	o.Set("/a", Behavior{})
	want(t, "after clearing", do(t, "GET", u, "").body, "stored")
	want(t, "every request counted", o.Count("", "/a"), 6)
}

func TestDelay(t *testing.T) {
	o := Start(t)
	o.Put("/a", "slow")
	o.Set("/a", Behavior{Delay: time.Millisecond})
	want(t, "delayed GET", do(t, "GET", o.URL()+"/a", "").body, "slow")

	o.Set("/a", Behavior{Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := doCtx(ctx, "GET", o.URL()+"/a", "")
		errc <- err
	}()
	eventually(t, "counted", func() bool { return o.Count("GET", "/a") == 2 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("GET of a client that left: %v", err)
	}
	eventually(t, "done with the delayed request", func() bool { return o.running() == 0 })
}

func TestFailClose(t *testing.T) {
	o := Start(t)
	o.Put("/a", "x")
	o.Set("/a", Behavior{Fail: FailClose})
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(o.URL() + "/a")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET of a closing origin: status %d, want an error", resp.StatusCode)
	}
	want(t, "count", o.Count("GET", "/a"), 1)
	o.Set("/a", Behavior{})
	want(t, "GET after clearing", do(t, "GET", o.URL()+"/a", "").body, "x")
}

func TestFailHang(t *testing.T) {
	o := Start(t)
	o.Put("/a", "x")
	o.Set("/a", Behavior{Fail: FailHang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := doCtx(ctx, "GET", o.URL()+"/a", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET of a hanging origin: %v, want the deadline", err)
	}
	eventually(t, "done with the hanging request", func() bool { return o.running() == 0 })
	want(t, "count", o.Count("GET", "/a"), 1)
}

func TestCloseEndsHangingRequests(t *testing.T) {
	o := Start(t)
	o.Set("/a", Behavior{Fail: FailHang})
	o.Set("/b", Behavior{Delay: time.Hour})
	h := o.Hold("/c")
	o.Put("/c", "x")
	errc := make(chan error, 3)
	for _, p := range []string{"/a", "/b", "/c"} {
		go func() {
			_, err := doCtx(context.Background(), "GET", o.URL()+p, "")
			errc <- err
		}()
	}
	h.Wait(1)
	eventually(t, "all arrived", func() bool { return o.running() == 3 })
	o.Close()
	o.Close()
	for range 3 {
		if err := <-errc; err == nil {
			t.Fatal("a request got an answer from a closed origin")
		}
	}
	if _, err := doCtx(context.Background(), "GET", o.URL()+"/c", ""); err == nil {
		t.Fatal("GET after Close got an answer")
	}
}

func TestCountsAndLast(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	do(t, "GET", u, "")
	do(t, "PUT", u, "body", "X-Forwarded-For", "192.0.2.1", "X-Forwarded-Proto", "https")
	do(t, "GET", u, "")
	do(t, "GET", o.URL()+"/b", "")
	want(t, "GET /a", o.Count("GET", "/a"), 2)
	want(t, "PUT /a", o.Count("PUT", "/a"), 1)
	want(t, "all /a", o.Count("", "/a"), 3)
	want(t, "GET /b", o.Count("GET", "/b"), 1)

	o.Put("/a", "x")
	o.Set("/a", Behavior{Status: 500})
	do(t, "DELETE", u, "")
	want(t, "failed DELETE counted", o.Count("DELETE", "/a"), 1)

	last, ok := o.Last("/a")
	if !ok {
		t.Fatal("no last request of /a")
	}
	want(t, "last method", last.Method, "DELETE")

	o.ResetCounts()
	want(t, "after reset", o.Count("", "/a"), 0)
	if _, ok := o.Last("/a"); ok {
		t.Fatal("last request of /a after reset")
	}
	if body, _, _ := o.Lookup("/a"); body != "x" {
		t.Fatalf("store after reset: %q", body)
	}
}

// TestLastRequestHeaders sends a raw request, hop-by-hop headers included.
func TestLastRequestHeaders(t *testing.T) {
	o := Start(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(o.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "PUT /a?x=1 HTTP/1.1\r\n"+
		"Host: example.com\r\n"+
		"Connection: close, X-Hop\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"X-Hop: 1\r\n"+
		"X-Forwarded-For: 192.0.2.1\r\n"+
		"X-Forwarded-Host: example.com\r\n"+
		"Transfer-Encoding: chunked\r\n"+
		"\r\n"+
		"4\r\nbody\r\n0\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want(t, "status", resp.StatusCode, 201)

	last, ok := o.Last("/a?x=1")
	if !ok {
		t.Fatal("no last request of /a?x=1")
	}
	want(t, "method", last.Method, "PUT")
	want(t, "URI", last.URI, "/a?x=1")
	want(t, "proto", last.Proto, "HTTP/1.1")
	want(t, "host", last.Host, "example.com")
	want(t, "body", last.Body, "body")
	want(t, "transfer encoding", strings.Join(last.TransferEncoding, ","), "chunked")
	want(t, "Connection", last.Header.Get("Connection"), "close, X-Hop")
	want(t, "Keep-Alive", last.Header.Get("Keep-Alive"), "timeout=5")
	want(t, "X-Hop", last.Header.Get("X-Hop"), "1")
	want(t, "X-Forwarded-For", last.Header.Get("X-Forwarded-For"), "192.0.2.1")
	want(t, "X-Forwarded-Host", last.Header.Get("X-Forwarded-Host"), "example.com")
	if !strings.HasPrefix(last.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("remote address %q", last.RemoteAddr)
	}
}

// TestHoldSnapshot is the origin side of a fill race: a GET reads the old
// body, a PUT lands while it is held, and the GET still answers the old body.
func TestHoldSnapshot(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	v1 := o.Put("/a", "old")
	h := o.Hold("/a")
	got := make(chan reply, 1)
	go func() {
		r, err := doCtx(context.Background(), "GET", u, "")
		if err != nil {
			r.body = err.Error()
		}
		got <- r
	}()
	h.Wait(1)
	r := do(t, "PUT", u, "new")
	want(t, "PUT while held", r.status, 200)
	select {
	case r := <-got:
		t.Fatalf("held GET answered before release: %q", r.body)
	default:
	}
	h.Release()
	h.Release()
	r = <-got
	want(t, "held GET body", r.body, "old")
	want(t, "held GET ETag", r.header.Get("ETag"), ETag(v1))
	want(t, "GET after release", do(t, "GET", u, "").body, "new")
}

func TestHoldSnapshotOfAbsence(t *testing.T) {
	o := Start(t)
	u := o.URL() + "/a"
	h := o.Hold("/a")
	defer h.Release()
	got := make(chan int, 1)
	go func() {
		r, _ := doCtx(context.Background(), "GET", u, "")
		got <- r.status
	}()
	h.Wait(1)
	do(t, "PUT", u, "new")
	h.Release()
	want(t, "held GET status", <-got, 404)
}

func TestHoldMany(t *testing.T) {
	o := Start(t)
	o.Put("/a", "x")
	h := o.Hold("/a")
	defer h.Release()
	const n = 5
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			r, err := doCtx(context.Background(), "GET", o.URL()+"/a", "")
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			bodies[i] = r.body
		})
	}
	h.Wait(n)
	want(t, "count while held", o.Count("GET", "/a"), n)
	h.Release()
	wg.Wait()
	for i, b := range bodies {
		want(t, fmt.Sprint("body ", i), b, "x")
	}
}

func TestHoldEndsWhenClientLeaves(t *testing.T) {
	o := Start(t)
	h := o.Hold("/a")
	defer h.Release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := doCtx(ctx, "GET", o.URL()+"/a", "")
		errc <- err
	}()
	h.Wait(1)
	cancel()
	<-errc
	eventually(t, "done with the held request", func() bool { return o.running() == 0 })
}

func TestHoldLeavesWritesAlone(t *testing.T) {
	o := Start(t)
	h := o.Hold("/a")
	defer h.Release()
	want(t, "PUT while held", do(t, "PUT", o.URL()+"/a", "x").status, 201)
}

// TestConcurrentWrites checks that versions are unique and increase along
// each writer's sequence.
func TestConcurrentWrites(t *testing.T) {
	o := Start(t)
	const writers, writes = 8, 25
	o.Put("/p", "")
	seen := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				var r reply
				var err error
				switch i % 3 {
				case 0:
					r, err = doCtx(context.Background(), "PUT", fmt.Sprintf("%s/w%d", o.URL(), w%2), "x")
				case 1:
					r, err = doCtx(context.Background(), "POST", o.URL()+"/list", "x")
				default:
					r, err = doCtx(context.Background(), "PATCH", o.URL()+"/p", "x")
				}
				if err != nil {
					t.Error(err)
					return
				}
				v, err := strconv.ParseInt(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
				if err != nil {
					t.Errorf("ETag %q", r.header.Get("ETag"))
					return
				}
				seen[w] = append(seen[w], v)
			}
		})
	}
	wg.Wait()
	var all []int64
	for w, vs := range seen {
		if !slices.IsSorted(vs) {
			t.Fatalf("writer %d saw versions out of order: %v", w, vs)
		}
		all = append(all, vs...)
	}
	slices.Sort(all)
	want(t, "writes", len(all), writers*writes)
	for i, v := range all {
		if v != int64(i+2) {
			t.Fatalf("versions are not the numbers after the seed without gaps: %v", all)
		}
	}
	body, _, _ := o.Lookup("/p")
	want(t, "appended body length", len(body), o.Count("PATCH", "/p"))
}

// TestBehaviorChangesWhileRequestsRun flips a path between failing and
// serving while readers run; the race detector checks the rest.
func TestBehaviorChangesWhileRequestsRun(t *testing.T) {
	o := Start(t)
	o.Put("/a", "x")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := doCtx(context.Background(), "GET", o.URL()+"/a", "")
				if err != nil {
					t.Error(err)
					return
				}
				if r.status != 200 && r.status != 503 {
					t.Errorf("status %d", r.status)
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			o.Set("/a", Behavior{Status: 503, Header: http.Header{"Retry-After": {"1"}}})
		} else {
			o.Set("/a", Behavior{Header: http.Header{"Cache-Control": {"max-age=1"}}})
		}
		o.Put("/a", "x")
	}
	close(stop)
	wg.Wait()
}
