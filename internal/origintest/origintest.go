// Package origintest starts a programmable HTTP origin for tests: a real
// net/http server on a free loopback port, closed when the test ends. It
// stands in for the application behind the caching proxy.
//
// The origin keeps a resource store. A resource is named by the path and
// query of the request line, as the client spelled them ("/a" and "/a?x=1"
// are distinct resources). GET and HEAD answer its current representation;
// PUT, POST, PATCH and DELETE change it. Every write takes the next value
// of a version counter shared by all paths, so versions strictly increase.
// A representation of version N has
//
//	ETag: "N"
//	Last-Modified: a logical clock, the origin's start less a day, plus N seconds
//
// so versions never share a Last-Modified, even when written in the
// same second, and Last-Modified stays in the past for fewer writes than a
// day has seconds. A GET whose If-None-Match matches, or, without
// If-None-Match, whose If-Modified-Since is not older, gets 304. An absent
// resource gets 404.
//
// PUT stores the request body and answers 201 when it created the
// resource, 200 otherwise. POST stores it at the new child path/N, N being
// its version, and answers 201 with Location: path/N. PATCH appends it.
// DELETE answers 204. PATCH and DELETE of an absent resource get 404. A
// write answer carries the new ETag and Last-Modified; writes ignore
// preconditions. The Content-Type of a write is stored with the body.
//
// Set gives a path a Behavior: extra headers, a fixed status, a delay, a
// failure. Counters and the last request of each path show what reached
// the origin. Hold freezes GETs mid-flight for fill-race tests. All methods
// are safe for concurrent use, also while requests run.
package origintest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Origin is one running origin server.
type Origin struct {
	tb    testing.TB
	srv   *http.Server
	url   string
	base  time.Time     // Last-Modified of version zero
	done  chan struct{} // closed by Close
	once  sync.Once
	calls sync.WaitGroup // handlers running

	mu        sync.Mutex
	closed    bool
	active    int // handlers running, for the package's tests
	version   int64
	resources map[string]resource
	behaviors map[string]Behavior
	holds     map[string]*Hold
	counts    map[call]int
	last      map[string]Request
}

type resource struct {
	body        string
	contentType string
	version     int64
}

type call struct{ method, path string }

// Behavior is what a path does besides serving the store. Its zero value
// is a plain resource.
type Behavior struct {
	// Header is added to every answer of the path, 304s and 404s included,
	// replacing the origin's own header of the same name. With a Vary
	// header, each listed request header makes one line of the body:
	// "\nName: value" after the stored body, in Vary's order, and the ETag
	// becomes "N;v1;v2..." with each value query-escaped, so variants
	// differ in body and ETag.
	Header http.Header
	// Status, when set, is the answer to every method of the path, with
	// Header and Body; the store is neither read nor written.
	Status int
	// Body of a Status answer; the status text when empty.
	Body string
	// Delay holds the request before anything else happens to it (the
	// count comes first). It ends early, without an answer, when the
	// client goes away or the origin closes.
	Delay time.Duration
	// Fail, when set, replaces the answer, after Delay.
	Fail Fail
}

// Fail is a way for a request to get no answer.
type Fail int

const (
	// FailNone answers normally.
	FailNone Fail = iota
	// FailClose closes the connection without an answer. Go's
	// http.Transport may retry an idempotent request that meets this on a
	// reused connection, so such a request may count more than once.
	FailClose
	// FailHang answers nothing until the client goes away or the origin
	// closes: the client sees its own timeout.
	FailHang
)

// Request is what the origin saw of one request.
type Request struct {
	Method string
	URI    string // path and query, as on the request line
	Proto  string
	Host   string
	// Header as net/http parsed it: Host, Transfer-Encoding and Trailer
	// are not in it (see Host and TransferEncoding).
	Header           http.Header
	TransferEncoding []string
	RemoteAddr       string
	Body             string
}

// Start starts an origin on a free loopback port and closes it when the
// test ends.
func Start(tb testing.TB) *Origin {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("origintest: cannot listen on 127.0.0.1: %v", err)
	}
	o := &Origin{
		tb:        tb,
		url:       "http://" + ln.Addr().String(),
		base:      time.Now().Truncate(time.Second).Add(-24 * time.Hour),
		done:      make(chan struct{}),
		resources: make(map[string]resource),
		behaviors: make(map[string]Behavior),
		holds:     make(map[string]*Hold),
		counts:    make(map[call]int),
		last:      make(map[string]Request),
	}
	o.srv = &http.Server{
		Handler:  http.HandlerFunc(o.serve),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go o.srv.Serve(ln)
	tb.Cleanup(o.Close)
	return o
}

// URL is the origin's base URL, http://127.0.0.1:port.
func (o *Origin) URL() string { return o.url }

// Close stops the server, ends held, delayed and hanging requests, and
// waits for its handlers to return. Later requests are refused.
func (o *Origin) Close() {
	o.once.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.done)
		o.srv.Close()
		o.calls.Wait()
	})
}

// Set gives path a behavior, replacing its previous one; the zero Behavior
// clears it. Requests that arrived before keep the old one.
func (o *Origin) Set(path string, b Behavior) {
	b.Header = b.Header.Clone()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.behaviors[path] = b
}

// Put stores body at path as a PUT would, without a request: it is not
// counted. It returns the new version.
func (o *Origin) Put(path, body string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.version++
	o.resources[path] = resource{body: body, contentType: defaultType, version: o.version}
	return o.version
}

// Lookup returns the stored body and version of path, without a request.
func (o *Origin) Lookup(path string) (body string, version int64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.resources[path]
	return r.body, r.version, ok
}

// ETag is the entity tag of version v of a path without Vary.
func ETag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// LastModified is the Last-Modified time of version v.
func (o *Origin) LastModified(v int64) time.Time {
	return o.base.Add(time.Duration(v) * time.Second)
}

// Count returns how many requests of method ("" for any) and path reached
// the origin, whatever their answer, failures included. A request counts
// once the origin has read its body.
func (o *Origin) Count(method, path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if method != "" {
		return o.counts[call{method, path}]
	}
	n := 0
	for c, k := range o.counts {
		if c.path == path {
			n += k
		}
	}
	return n
}

// Last returns the last request of path that reached the origin.
func (o *Origin) Last(path string) (Request, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.last[path]
	return r, ok
}

// ResetCounts forgets counts and last requests; resources, behaviors and
// holds stay.
func (o *Origin) ResetCounts() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.counts)
	clear(o.last)
}

// Hold freezes the GETs and HEADs of path that arrive from now until
// Release. Each held request reads its representation (or its absence)
// when it arrives, then waits, then answers what it read: a write made
// while it waits does not change its answer. This is the origin side of
// "a fill that began before a write". A held request ends without an
// answer when its client goes away or the origin closes. Holding a path
// again replaces the hold for later arrivals.
func (o *Origin) Hold(path string) *Hold {
	h := &Hold{o: o, path: path, release: make(chan struct{}), arrived: make(chan struct{})}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.holds[path] = h
	return h
}

// Hold is a freeze of one path's GETs; see Origin.Hold.
type Hold struct {
	o       *Origin
	path    string
	release chan struct{}
	once    sync.Once
	n       int           // requests held so far; guarded by o.mu
	arrived chan struct{} // closed and replaced at each arrival; guarded by o.mu
}

// Release lets the held requests answer and stops holding new ones. It may
// be called more than once.
func (h *Hold) Release() {
	h.once.Do(func() {
		h.o.mu.Lock()
		if h.o.holds[h.path] == h {
			delete(h.o.holds, h.path)
		}
		h.o.mu.Unlock()
		close(h.release)
	})
}

// Wait waits until n requests have been held, and fails the test when
// they do not come within a bounded wait. Call it from the test's goroutine.
func (h *Hold) Wait(n int) {
	h.o.tb.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		h.o.mu.Lock()
		got, ch := h.n, h.arrived
		h.o.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			h.o.tb.Fatalf("origintest: %d of %d held GETs of %s arrived in ten seconds", got, n, h.path)
		}
	}
}

const defaultType = "text/plain; charset=utf-8"

func (o *Origin) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.RequestURI()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		abort()
	}
	o.calls.Add(1)
	o.active++
	defer func() {
		o.mu.Lock()
		o.active--
		o.mu.Unlock()
		o.calls.Done()
	}()
	o.counts[call{r.Method, path}]++
	o.last[path] = Request{
		Method:           r.Method,
		URI:              path,
		Proto:            r.Proto,
		Host:             r.Host,
		Header:           r.Header.Clone(),
		TransferEncoding: append([]string(nil), r.TransferEncoding...),
		RemoteAddr:       r.RemoteAddr,
		Body:             string(body),
	}
	b := o.behaviors[path]
	o.mu.Unlock()

	if b.Delay > 0 {
		t := time.NewTimer(b.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			abort()
		case <-o.done:
			abort()
		}
	}
	switch b.Fail {
	case FailClose:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			abort()
		}
		conn.Close()
		return
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-o.done:
		}
		abort()
	}
	if b.Status != 0 {
		text := b.Body
		if text == "" {
			text = http.StatusText(b.Status) + "\n"
		}
		o.answer(w, r, b, b.Status, text)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		o.read(w, r, path, b)
	case http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
		o.write(w, r, path, b, string(body))
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, PATCH, DELETE")
		o.answer(w, r, b, http.StatusMethodNotAllowed, "method not allowed\n")
	}
}

// abort ends the request without an answer: net/http closes the
// connection instead of sending the empty 200 of a handler that returns.
func abort() { panic(http.ErrAbortHandler) }

// answer writes a plain-text answer with b's headers.
func (o *Origin) answer(w http.ResponseWriter, r *http.Request, b Behavior, status int, text string) {
	hasBody := status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
	if hasBody {
		w.Header().Set("Content-Type", defaultType)
		w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	}
	addHeader(w, b)
	w.WriteHeader(status)
	if hasBody && r.Method != http.MethodHead {
		io.WriteString(w, text)
	}
}

func addHeader(w http.ResponseWriter, b Behavior) {
	for k, v := range b.Header {
		w.Header()[k] = v
	}
}

func (o *Origin) read(w http.ResponseWriter, r *http.Request, path string, b Behavior) {
	o.mu.Lock()
	res, ok := o.resources[path]
	h := o.holds[path]
	if h != nil {
		h.n++
		close(h.arrived)
		h.arrived = make(chan struct{})
	}
	o.mu.Unlock()
	if h != nil {
		select {
		case <-h.release:
		case <-r.Context().Done():
			abort()
		case <-o.done:
			abort()
		}
	}
	if !ok {
		o.answer(w, r, b, http.StatusNotFound, "not found\n")
		return
	}
	body, etag := res.body, ETag(res.version)
	if names := varyNames(b.Header); len(names) > 0 {
		var tag strings.Builder
		tag.WriteString(strconv.FormatInt(res.version, 10))
		for _, name := range names {
			v := strings.Join(r.Header.Values(name), ", ")
			body += "\n" + http.CanonicalHeaderKey(name) + ": " + v
			tag.WriteString(";" + url.QueryEscape(v))
		}
		etag = `"` + tag.String() + `"`
	}
	modified := o.LastModified(res.version)
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	if notModified(r, etag, modified) {
		addHeader(w, b)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", res.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	addHeader(w, b)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

// varyNames lists the request headers named by the Vary of h, less "*".
func varyNames(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" && name != "*" {
				names = append(names, name)
			}
		}
	}
	return names
}

// notModified tells whether a GET of a representation with etag and
// modified time gets 304. If-None-Match, when present, decides alone.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		for _, v := range inm {
			for tag := range strings.SplitSeq(v, ",") {
				tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
				if tag == "*" || tag == strings.TrimPrefix(etag, "W/") {
					return true
				}
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !modified.After(t)
	}
	return false
}

func (o *Origin) write(w http.ResponseWriter, r *http.Request, path string, b Behavior, body string) {
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = defaultType
	}
	status := http.StatusOK
	o.mu.Lock()
	old, exists := o.resources[path]
	switch r.Method {
	case http.MethodPut:
		o.version++
		o.resources[path] = resource{body: body, contentType: ctype, version: o.version}
		if !exists {
			status = http.StatusCreated
		}
	case http.MethodPost:
		o.version++
		path = strings.TrimSuffix(r.URL.EscapedPath(), "/") + "/" + strconv.FormatInt(o.version, 10)
		o.resources[path] = resource{body: body, contentType: ctype, version: o.version}
		status = http.StatusCreated
		w.Header().Set("Location", path)
	case http.MethodPatch:
		if exists {
			o.version++
			old.body += body
			old.version = o.version
			o.resources[path] = old
		}
	case http.MethodDelete:
		if exists {
			o.version++
			delete(o.resources, path)
			status = http.StatusNoContent
		}
	}
	v := o.version
	o.mu.Unlock()
	switch {
	case !exists && (r.Method == http.MethodPatch || r.Method == http.MethodDelete):
		o.answer(w, r, b, http.StatusNotFound, "not found\n")
	default:
		w.Header().Set("ETag", ETag(v))
		w.Header().Set("Last-Modified", o.LastModified(v).UTC().Format(http.TimeFormat))
		o.answer(w, r, b, status, fmt.Sprintf("version %d\n", v))
	}
}
