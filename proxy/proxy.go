package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/redact"
	"github.com/valyala/fasthttp"
)

// Versions gives the proxy's writes and fills their versions, since an
// HTTP origin has none: per-key counters in the shared tier. A fill reads
// the key's counter before it asks the origin, and a write bumps it after
// the origin answered, so a fill that may have read the old answer carries
// a lower version than the write (backends/redis.Tier implements it).
type Versions interface {
	Version(ctx context.Context, key string) (uint64, error)
	NextVersion(ctx context.Context, key string, ttl time.Duration) (uint64, error)
}

// Config configures a Proxy. Zero values take the documented defaults.
type Config struct {
	// Origin is the HTTP service behind the proxy: http://host:port, or
	// https://. Required.
	Origin string
	// DefaultTTL is the freshness of an answer that states none, for the
	// statuses cacheable by default (200, 301, 404, …). It is also how
	// long an answer that must not be cached makes its URI bypass the
	// cache. Default 120s.
	DefaultTTL time.Duration
	// StaleIfError is how long past its freshness an answer may still be
	// served when the origin refuses, times out or answers 5xx; the
	// answer's own stale-if-error wins. Default 0: never.
	StaleIfError time.Duration
	// OriginTimeout bounds each request to the origin. Default 10s.
	OriginTimeout time.Duration
	// MaxObjectBytes is the largest body that is cached; a larger answer
	// streams through uncached. Default 1 MiB.
	MaxObjectBytes int
	// PurgeToken enables PURGE: a request with Authorization: Bearer
	// PurgeToken invalidates its URI on every instance. Empty disables it.
	PurgeToken string
	// Cache is the configuration of the two tiers; Loader, TTLOf and
	// Validate are the proxy's. TTL caps how long an answer is kept.
	Cache core.Config
	// Versions is required with Cache.L2, and unused without it: the
	// versions order the writes that reach L2.
	Versions Versions
	// Logger receives origin failures. Default slog.Default().
	Logger *slog.Logger
}

// Proxy is a caching reverse proxy in front of one origin, on a core.Cache.
// It is safe for concurrent use.
type Proxy struct {
	cfg      Config
	cache    *core.Cache
	versions Versions
	origin   *url.URL
	fills    *fasthttp.HostClient // buffered, bounded bodies: fills
	pass     *fasthttp.HostClient // streamed bodies: everything else
	log      *slog.Logger
	now      func() time.Time
}

// New validates cfg and returns a Proxy. Close it to stop its cache.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("invalid origin %q: want http://host:port or https://host:port, without a path or credentials", redact.URL(cfg.Origin))
	}
	if cfg.DefaultTTL <= 0 {
		cfg.DefaultTTL = 120 * time.Second
	}
	if cfg.StaleIfError < 0 {
		return nil, errors.New("proxy: Config.StaleIfError must not be negative")
	}
	if cfg.OriginTimeout <= 0 {
		cfg.OriginTimeout = 10 * time.Second
	}
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Proxy{cfg: cfg, versions: cfg.Versions, origin: u, log: cfg.Logger, now: time.Now}
	if cfg.Cache.L2 != nil && p.versions == nil {
		return nil, errors.New("proxy: Versions is required with an L2")
	}
	addr := u.Host
	switch {
	case u.Port() != "":
	case u.Scheme == "https":
		addr += ":443"
	default:
		addr += ":80"
	}
	client := func(stream bool) *fasthttp.HostClient {
		return &fasthttp.HostClient{
			Addr: addr, IsTLS: u.Scheme == "https", Name: "tiercache",
			ReadTimeout: cfg.OriginTimeout, WriteTimeout: cfg.OriginTimeout,
			MaxIdleConnDuration: 30 * time.Second, MaxConns: 1024,
			MaxResponseBodySize: cfg.MaxObjectBytes, StreamResponseBody: stream,
			DisableHeaderNamesNormalizing: false, DisablePathNormalizing: true,
			NoDefaultUserAgentHeader: true, SecureErrorLogMessage: true,
		}
	}
	p.fills, p.pass = client(false), client(true)
	p.pass.MaxResponseBodySize = 0

	ccfg := cfg.Cache
	ccfg.Loader = core.LoaderFunc(p.load)
	ccfg.Validate = func(_ string, v []byte) bool { _, ok := decode(v); return ok }
	ccfg.TTLOf = func(_ string, v []byte) time.Duration {
		e, _ := decode(v)
		return time.Duration(max(e.stale, e.fresh) - p.now().UnixNano())
	}
	ccfg.Logger = cfg.Logger
	if ccfg.TTL == 0 {
		ccfg.TTL = 24 * time.Hour
	}
	if p.cache, err = core.New(ccfg); err != nil {
		return nil, err
	}
	return p, nil
}

// Close stops the cache's retries; it closes neither tier.
func (p *Proxy) Close() { p.cache.Close() }

// Stats returns the cache's counters.
func (p *Proxy) Stats() core.Stats { return p.cache.Stats() }

// Ready reports the state of L2.
func (p *Proxy) Ready(ctx context.Context) string {
	l2, _ := p.cache.Ready(ctx)
	return l2
}

// Cache-Status values (RFC 9211).
var (
	csHitL1     = []byte("tiercache; hit; detail=l1")
	csHitL2     = []byte("tiercache; hit; detail=l2")
	csStored    = []byte("tiercache; fwd=miss; stored")
	csRefreshed = []byte("tiercache; fwd=stale; stored")
	csMiss      = []byte("tiercache; fwd=miss")
	csBypass    = []byte("tiercache; fwd=bypass")
	csVaryMiss  = []byte("tiercache; fwd=vary-miss")
	csRequest   = []byte("tiercache; fwd=request")
	csMethod    = []byte("tiercache; fwd=method")
	csStaleErr  = []byte("tiercache; fwd=stale; detail=stale-if-error")

	hdrCacheStatus = []byte("Cache-Status")
	hdrAge         = []byte("Age")
)

// fill carries the request that missed into the Loader: core runs the
// load in the caller's goroutine (its context has no Done), so the fill
// may read the request while it lasts. out receives the origin's answer
// when it is not cached: it goes to that request only.
type fill struct {
	context.Context
	req *fasthttp.RequestCtx
	out *fasthttp.Response
}

type fillKey struct{}

func (f *fill) Value(k any) any {
	if k == (fillKey{}) {
		return f
	}
	return f.Context.Value(k)
}

var fills = sync.Pool{New: func() any { return &fill{Context: context.Background()} }}

// Handler serves one request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsGet() || ctx.IsHead():
		p.get(ctx)
	case string(ctx.Method()) == "PURGE":
		p.purge(ctx)
	case ctx.IsPost() || ctx.IsPut() || ctx.IsPatch() || ctx.IsDelete():
		if status, ok := p.forward(ctx, csMethod); ok && status < 400 {
			p.invalidateWrite(ctx)
		}
	default:
		p.forward(ctx, csMethod)
	}
}

// get answers GET and HEAD from the cache, filling it on a miss.
func (p *Proxy) get(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	if len(peekCanonical(h, "Authorization")) > 0 || len(peekCanonical(h, "Cookie")) > 0 {
		p.forward(ctx, csRequest)
		return
	}
	// The key aliases the request's bytes: the cache copies a key it keeps.
	uri := h.RequestURI()
	key := unsafe.String(unsafe.SliceData(uri), len(uri))
	f := fills.Get().(*fill)
	f.req, f.out = ctx, nil
	defer func() {
		if f.out != nil {
			fasthttp.ReleaseResponse(f.out)
		}
		f.req, f.out = nil, nil
		fills.Put(f)
	}()

	r, err := p.cache.Get(f, key)
	cs := csStored
	switch r.Source {
	case core.SourceL1:
		cs = csHitL1
	case core.SourceL2:
		cs = csHitL2
	}
	if err != nil {
		p.failed(ctx, f, err, nil)
		return
	}
	if f.out != nil { // this request's own load found an answer not to cache
		writeResponse(ctx, f.out, csMiss)
		return
	}
	e, _ := decode(r.Value) // Validate checked it
	now := p.now()
	if r.Source != core.SourceStore && e.kind == kindReply && now.UnixNano() >= e.fresh {
		stale := e
		r, err = p.cache.Refresh(f, key)
		if err != nil {
			p.failed(ctx, f, err, &stale)
			return
		}
		if f.out != nil {
			writeResponse(ctx, f.out, csMiss)
			return
		}
		e, _ = decode(r.Value)
		cs = csRefreshed
	}
	switch {
	case e.kind == kindPass:
		p.forward(ctx, csBypass)
	case !e.matches(h):
		p.forward(ctx, csVaryMiss)
	default:
		p.serve(ctx, &e, cs, now)
	}
}

// failed answers a request whose fill failed: with stale when the error is
// the origin's and stale may still serve, else with the origin's own 5xx,
// else 502 or 504.
func (p *Proxy) failed(ctx *fasthttp.RequestCtx, f *fill, err error, stale *entry) {
	var oe *originError
	if !errors.As(err, &oe) {
		p.log.Error("proxy: cannot read the cache", "err", err)
		writeJSON(ctx, fasthttp.StatusBadGateway, "Bad gateway.", csMiss)
		return
	}
	now := p.now()
	if stale != nil && now.UnixNano() < stale.stale && stale.matches(&ctx.Request.Header) {
		p.serve(ctx, stale, csStaleErr, now)
		return
	}
	if f.out != nil {
		writeResponse(ctx, f.out, csMiss)
		return
	}
	if oe.timeout {
		writeJSON(ctx, fasthttp.StatusGatewayTimeout, "Gateway timeout.", csMiss)
		return
	}
	writeJSON(ctx, fasthttp.StatusBadGateway, "Bad gateway.", csMiss)
}

// matches reports whether the request has the header values that e was
// stored for.
func (e *entry) matches(h *fasthttp.RequestHeader) bool {
	vary := newFields(e.vary, 2)
	for name, value, ok := vary.next(); ok; name, value, ok = vary.next() {
		if !bytes.Equal(h.PeekBytes(name), value) {
			return false
		}
	}
	return true
}

// serve writes e: a 304 when the request's validators match, else the
// stored answer, with Age and Cache-Status. It allocates nothing.
func (p *Proxy) serve(ctx *fasthttp.RequestCtx, e *entry, cs []byte, now time.Time) {
	resp := &ctx.Response
	notModified := e.status == fasthttp.StatusOK && e.notModified(&ctx.Request.Header)
	if notModified {
		resp.SetStatusCode(fasthttp.StatusNotModified)
	} else {
		resp.SetStatusCode(e.status)
	}
	var upstream []byte // the origin's Cache-Status: ours follows it (RFC 9211)
	// The stored names are as the client normalized them when it read the
	// origin's answer, and normalizing is idempotent: adding them without
	// normalizing again writes the same bytes, for one pass less per name.
	// fasthttp still neutralizes any CR or LF in a name.
	wasOff := resp.Header.DisableNormalizing()
	headers := newFields(e.headers, 4)
	for name, value, ok := headers.next(); ok; name, value, ok = headers.next() {
		switch {
		case string(name) == "Cache-Status":
			upstream = value
		case notModified && !keptOn304(name):
		default:
			resp.Header.AddBytesKV(name, value)
		}
	}
	if !wasOff {
		resp.Header.EnableNormalizing()
	}
	var buf [256]byte
	resp.Header.SetCanonical(hdrAge, strconv.AppendInt(buf[:0], e.ageAt(now), 10))
	b := buf[:0]
	if len(upstream) > 0 {
		b = append(append(b, upstream...), ", "...)
	}
	b = append(b, cs...)
	b = append(b, "; ttl="...)
	b = strconv.AppendInt(b, (e.fresh-now.UnixNano())/int64(time.Second), 10)
	resp.Header.SetCanonical(hdrCacheStatus, b)
	if notModified {
		resp.SkipBody = true
		return
	}
	resp.SetBodyRaw(e.body)
}

// peekCanonical is h.Peek(key) for a key in canonical form, without
// normalizing key again: the server normalized the request's names as it
// read them, unless h's normalizing is off, in which case Peek does not
// normalize either. It saves Peek a pass over key.
func peekCanonical(h *fasthttp.RequestHeader, key string) []byte {
	if h.DisableNormalizing() {
		return h.Peek(key)
	}
	v := h.Peek(key)
	h.EnableNormalizing()
	return v
}

// keptOn304 lists the headers a 304 carries (RFC 9110 §15.4.5).
func keptOn304(name []byte) bool {
	switch string(name) {
	case "Cache-Control", "Content-Location", "Etag", "ETag", "Expires", "Vary", "Last-Modified":
		return true
	}
	return false
}

// notModified reports whether the request's If-None-Match, or else its
// If-Modified-Since, matches the stored answer (RFC 9110 §13.1.2-3).
func (e *entry) notModified(h *fasthttp.RequestHeader) bool {
	inm := peekCanonical(h, "If-None-Match")
	ims := peekCanonical(h, "If-Modified-Since")
	if len(inm) == 0 && len(ims) == 0 {
		return false
	}
	var etag, lastModified []byte
	headers := newFields(e.headers, 4)
	for name, value, ok := headers.next(); ok; name, value, ok = headers.next() {
		switch string(name) {
		case "Etag", "ETag":
			etag = value
		case "Last-Modified":
			lastModified = value
		}
	}
	if len(inm) > 0 {
		return len(etag) > 0 && etagListed(inm, etag)
	}
	if len(lastModified) == 0 {
		return false
	}
	since, err := fasthttp.ParseHTTPDate(ims)
	if err != nil {
		return false
	}
	lm, err := fasthttp.ParseHTTPDate(lastModified)
	return err == nil && !lm.After(since)
}

// etagListed reports whether etag weakly matches one in the If-None-Match
// list, or the list is "*".
func etagListed(list, etag []byte) bool {
	etag = bytes.TrimPrefix(etag, []byte("W/"))
	for len(list) > 0 {
		var item []byte
		item, list = nextItem(list)
		item = bytes.TrimPrefix(item, []byte("W/"))
		if string(item) == "*" || bytes.Equal(item, etag) {
			return true
		}
	}
	return false
}

// originError is a fill that got no answer to cache: the origin refused,
// timed out, or answered 5xx.
type originError struct {
	status  int // of a 5xx answer; 0 when there was none
	timeout bool
	err     error
}

func (e *originError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("origin answered %d", e.status)
	}
	return "origin failed: " + e.err.Error()
}

// load is the cache's Loader: it asks the origin for key and returns the
// entry to keep, with the key's version read before asking.
func (p *Proxy) load(ctx context.Context, key string) ([]byte, uint64, error) {
	var version uint64 // 0 without L2, or while it is down: the entry stays in L1
	if p.versions != nil {
		if v, err := p.versions.Version(ctx, key); err == nil {
			version = v
		}
	}
	f, _ := ctx.Value(fillKey{}).(*fill)
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer func() {
		if resp != nil {
			fasthttp.ReleaseResponse(resp)
		}
	}()
	if f != nil && f.req != nil {
		p.originRequest(req, f.req, false)
	} else {
		req.Header.SetHost(p.origin.Host)
	}
	req.SetRequestURI(key)
	req.Header.SetMethod(fasthttp.MethodGet) // a HEAD that missed fills with a GET
	sent := p.now()
	err := p.fills.DoTimeout(req, resp, p.cfg.OriginTimeout)
	arrived := p.now()
	resp.Header.SetNoDefaultContentType(true) // an answer without one is stored without one
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return p.passEntry(arrived), version, nil
	case err != nil:
		p.log.Warn("proxy: origin failed", "key", key, "err", err)
		return nil, 0, &originError{err: err, timeout: errors.Is(err, fasthttp.ErrTimeout)}
	case resp.StatusCode() >= 500 && resp.StatusCode() != fasthttp.StatusNotImplemented:
		status := resp.StatusCode()
		if f != nil {
			f.out, resp = resp, nil
		}
		return nil, 0, &originError{status: status}
	}
	ttl, cc, ok := lifetime(resp, p.cfg.DefaultTTL)
	if !ok {
		if f != nil {
			f.out, resp = resp, nil
		}
		return p.passEntry(arrived), version, nil
	}
	age, _ := strconv.ParseUint(string(resp.Header.Peek("Age")), 10, 32)
	fresh := sent.Add(ttl - time.Duration(age)*time.Second)
	staleFor := p.cfg.StaleIfError
	if cc.staleIfError >= 0 {
		staleFor = time.Duration(cc.staleIfError) * time.Second
	}
	enc := newEncoder(kindReply, resp.StatusCode(), arrived, fresh, fresh.Add(staleFor), uint32(age))
	if vary := resp.Header.Peek("Vary"); len(vary) > 0 {
		for _, name := range bytes.Split(vary, []byte(",")) {
			name = bytes.TrimSpace(name)
			if len(name) == 0 {
				continue
			}
			var value []byte // a reload has no request: the variant without the header
			if f != nil && f.req != nil {
				value = f.req.Request.Header.PeekBytes(name)
			}
			enc.vary(name, value)
		}
	}
	conn := resp.Header.Peek("Connection")
	for name, value := range resp.Header.All() {
		switch {
		case hopByHop(name), listed(conn, name), string(name) == "Content-Length", string(name) == "Age",
			string(name) == "Date", string(name) == "Server", string(name) == "Set-Cookie":
			continue
		}
		enc.header(name, value)
	}
	return enc.finish(resp.Body()), version, nil
}

// passEntry is the entry of an answer not to cache: the requests of its
// key go to the origin for DefaultTTL.
func (p *Proxy) passEntry(now time.Time) []byte {
	until := now.Add(p.cfg.DefaultTTL)
	return newEncoder(kindPass, 0, now, until, until, 0).finish(nil)
}

// originRequest makes req the request to send the origin for the client's
// request in ctx: its end-to-end headers (without validators, for a fill,
// which the proxy answers itself), the origin's Host and X-Forwarded-*.
func (p *Proxy) originRequest(req *fasthttp.Request, ctx *fasthttp.RequestCtx, withBody bool) {
	in := &ctx.Request.Header
	conn := in.Peek("Connection")
	for name, value := range in.All() {
		switch {
		case hopByHop(name), listed(conn, name), string(name) == "Host", string(name) == "Content-Length",
			string(name) == "X-Forwarded-For", string(name) == "X-Forwarded-Proto", string(name) == "X-Forwarded-Host":
			continue
		case !withBody && (string(name) == "If-None-Match" || string(name) == "If-Modified-Since" ||
			string(name) == "If-Match" || string(name) == "If-Unmodified-Since" || string(name) == "If-Range" ||
			string(name) == "Range" || string(name) == "Accept-Encoding"):
			// A fill asks for the whole, unencoded answer: the proxy
			// answers validators itself, and serves every client the
			// same bytes.
			continue
		}
		req.Header.AddBytesKV(name, value)
	}
	req.Header.SetMethodBytes(in.Method())
	req.SetRequestURIBytes(in.RequestURI())
	req.Header.SetHost(p.origin.Host)
	xff := in.Peek("X-Forwarded-For")
	ip := ctx.RemoteIP().String()
	if len(xff) > 0 {
		req.Header.Set("X-Forwarded-For", string(xff)+", "+ip)
	} else {
		req.Header.Set("X-Forwarded-For", ip)
	}
	req.Header.Set("X-Forwarded-Proto", "http")
	if host := in.Host(); len(host) > 0 {
		req.Header.SetBytesV("X-Forwarded-Host", host)
	}
	if withBody {
		req.SetBodyRaw(ctx.Request.Body())
	}
}

// forward sends the client's request to the origin and streams the answer
// back, uncached. It returns the origin's status, and false when there was
// no answer (the client then got 502 or 504).
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, cs []byte) (int, bool) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	p.originRequest(req, ctx, true)
	resp := fasthttp.AcquireResponse()
	if err := p.pass.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		p.log.Warn("proxy: origin failed", "method", string(ctx.Method()), "err", err)
		if errors.Is(err, fasthttp.ErrTimeout) {
			writeJSON(ctx, fasthttp.StatusGatewayTimeout, "Gateway timeout.", cs)
		} else {
			writeJSON(ctx, fasthttp.StatusBadGateway, "Bad gateway.", cs)
		}
		return 0, false
	}
	status := resp.StatusCode()
	resp.Header.SetNoDefaultContentType(true)
	copyHeaders(ctx, resp, cs)
	if s := resp.BodyStream(); s != nil {
		ctx.Response.SetBodyStream(&releaser{r: s, resp: resp}, resp.Header.ContentLength())
		return status, true
	}
	ctx.Response.SetBody(resp.Body())
	fasthttp.ReleaseResponse(resp)
	return status, true
}

// releaser streams an origin's body and releases its response when the
// server closes it after writing.
type releaser struct {
	r    io.Reader
	resp *fasthttp.Response
}

func (r *releaser) Read(p []byte) (int, error) { return r.r.Read(p) }

func (r *releaser) Close() error {
	err := r.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(r.resp)
	return err
}

// copyHeaders sets ctx's status and end-to-end headers from resp, and
// Cache-Status: the origin's, then ours.
func copyHeaders(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, cs []byte) {
	ctx.Response.SetStatusCode(resp.StatusCode())
	conn := resp.Header.Peek("Connection")
	for name, value := range resp.Header.All() {
		switch {
		case hopByHop(name), listed(conn, name), string(name) == "Content-Length", string(name) == "Date",
			string(name) == "Server", string(name) == "Cache-Status":
			continue
		}
		ctx.Response.Header.AddBytesKV(name, value)
	}
	if upstream := resp.Header.Peek("Cache-Status"); len(upstream) > 0 {
		cs = append(append(append([]byte(nil), upstream...), ", "...), cs...)
	}
	ctx.Response.Header.SetCanonical(hdrCacheStatus, cs)
}

// writeResponse answers with resp, an origin's answer held in full.
func writeResponse(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, cs []byte) {
	copyHeaders(ctx, resp, cs)
	ctx.Response.SetBody(resp.Body())
}

// writeJSON answers {"error":msg} with a Cache-Status.
func writeJSON(ctx *fasthttp.RequestCtx, status int, msg string, cs []byte) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.SetCanonical(hdrCacheStatus, cs)
	ctx.Response.SetBodyString(`{"error":"` + msg + `"}` + "\n")
}

// invalidateWrite invalidates, on every instance, the URIs that a write
// that the origin took may have changed: the request's, and its Location
// and Content-Location on this host (RFC 9111 §4.4).
func (p *Proxy) invalidateWrite(ctx *fasthttp.RequestCtx) {
	uri := string(ctx.Request.Header.RequestURI())
	p.invalidate(uri)
	host := string(ctx.Request.Header.Host())
	for _, h := range []string{"Location", "Content-Location"} {
		if v := ctx.Response.Header.Peek(h); len(v) > 0 {
			if k, ok := sameHostKey(host, p.origin.Host, uri, string(v)); ok && k != uri {
				p.invalidate(k)
			}
		}
	}
}

// sameHostKey resolves ref against the request URI and returns its path
// and query, if it names this host (the client's or the origin's).
func sameHostKey(host, originHost, uri, ref string) (string, bool) {
	base, err := url.Parse("http://" + host + uri)
	if err != nil {
		return "", false
	}
	u, err := base.Parse(ref)
	if err != nil || (u.Host != base.Host && u.Host != originHost) {
		return "", false
	}
	return u.RequestURI(), true
}

// counterTTL is how long a key's version counter lives after its last
// write: longer than any answer is kept.
func (p *Proxy) counterTTL() time.Duration { return 2 * p.cache.TTL() }

// invalidate makes every instance drop key: a new version for it, and a
// "not found" of that version in L2, which fills that began before cannot
// replace. When no version can be had (L2 down), the cache reloads key
// from the origin until L2 takes it.
func (p *Proxy) invalidate(key string) {
	if p.versions == nil { // no L2: dropping L1 is all there is to do
		p.cache.PublishNotFound(context.Background(), key, 0)
		return
	}
	v, err := p.versions.NextVersion(context.Background(), key, p.counterTTL())
	if err != nil {
		p.cache.Reload(key)
		return
	}
	p.cache.PublishNotFound(context.Background(), key, v)
}

// purge answers PURGE: with the purge token, the URI is invalidated on
// every instance.
func (p *Proxy) purge(ctx *fasthttp.RequestCtx) {
	if p.cfg.PurgeToken == "" {
		writeJSON(ctx, fasthttp.StatusMethodNotAllowed, "PURGE is disabled: no purge token is set.", csMethod)
		ctx.Response.Header.Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE")
		return
	}
	auth := ctx.Request.Header.Peek("Authorization")
	token, ok := strings.CutPrefix(string(auth), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(p.cfg.PurgeToken)) != 1 {
		writeJSON(ctx, fasthttp.StatusUnauthorized, "PURGE needs Authorization: Bearer <purge token>.", csMethod)
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="tiercache purge"`)
		return
	}
	p.invalidate(string(ctx.Request.Header.RequestURI()))
	ctx.SetContentType("application/json")
	ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
	ctx.Response.SetBodyString(`{"purged":true}` + "\n")
}
