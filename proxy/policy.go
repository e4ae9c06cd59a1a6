package proxy

import (
	"bytes"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// cacheControl is what the proxy reads of a response's Cache-Control.
type cacheControl struct {
	noStore, private, noCache, public bool
	sMaxAge, maxAge                   int64 // seconds; -1 when absent
	staleIfError                      int64 // seconds; -1 when absent
}

// parseCacheControl reads the directives of v, case-insensitively. An age
// given twice or with a bad argument is 0: stale at once (RFC 9111 §4.2.1).
func parseCacheControl(v []byte) cacheControl {
	cc := cacheControl{sMaxAge: -1, maxAge: -1, staleIfError: -1}
	for len(v) > 0 {
		var d []byte
		d, v = nextItem(v)
		name, arg, _ := bytes.Cut(d, []byte("="))
		name = bytes.TrimSpace(name)
		arg = bytes.Trim(bytes.TrimSpace(arg), `"`)
		switch string(bytes.ToLower(name)) {
		case "no-store":
			cc.noStore = true
		case "private":
			cc.private = true
		case "no-cache":
			cc.noCache = true
		case "public":
			cc.public = true
		case "s-maxage":
			cc.sMaxAge = seconds(arg, cc.sMaxAge)
		case "max-age":
			cc.maxAge = seconds(arg, cc.maxAge)
		case "stale-if-error":
			cc.staleIfError = seconds(arg, cc.staleIfError)
		}
	}
	return cc
}

// seconds parses a delta-seconds argument; a second occurrence (prev set)
// or a bad argument gives 0.
func seconds(arg []byte, prev int64) int64 {
	if prev != -1 {
		return 0
	}
	n, err := strconv.ParseInt(string(arg), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 1<<31)
}

// heuristic holds the statuses that may be cached without explicit
// freshness (RFC 9110 §15.1), which the proxy then keeps for DefaultTTL.
var heuristic = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true}

// lifetime returns how long resp is fresh from its arrival, and whether it
// may be stored at all (RFC 9111 §3 and §4.2.1, the subset in the README).
func lifetime(resp *fasthttp.Response, defaultTTL time.Duration) (time.Duration, cacheControl, bool) {
	cc := parseCacheControl(resp.Header.Peek("Cache-Control"))
	if cc.noStore || cc.private {
		return 0, cc, false
	}
	if len(resp.Header.Peek("Set-Cookie")) > 0 {
		return 0, cc, false
	}
	if v := resp.Header.Peek("Vary"); bytes.Contains(v, []byte("*")) {
		return 0, cc, false
	}
	status := resp.StatusCode()
	var d time.Duration
	explicit := true
	switch {
	case cc.sMaxAge >= 0:
		d = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge >= 0:
		d = time.Duration(cc.maxAge) * time.Second
	case len(resp.Header.Peek("Expires")) > 0:
		exp, err := fasthttp.ParseHTTPDate(resp.Header.Peek("Expires"))
		if err != nil {
			break // an invalid Expires means already expired
		}
		date, err := fasthttp.ParseHTTPDate(resp.Header.Peek("Date"))
		if err != nil {
			date = time.Now()
		}
		d = max(0, exp.Sub(date))
	default:
		explicit = false
		d = defaultTTL
	}
	if !heuristic[status] && !(explicit && (status == 302 || status == 307)) {
		return 0, cc, false
	}
	if cc.noCache {
		d = 0 // stored, but revalidated on every use
	}
	return d, cc, true
}

// hopByHop reports whether a header of this name is the connection's, not
// the message's (RFC 9110 §7.6.1), or one that the proxy sets itself.
func hopByHop(name []byte) bool {
	switch string(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "TE", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// listed reports whether name is in the comma-separated list v, ignoring
// case: the Connection header's names are hop-by-hop too.
func listed(v, name []byte) bool {
	for len(v) > 0 {
		var item []byte
		item, v = nextItem(v)
		if bytes.EqualFold(item, name) {
			return true
		}
	}
	return false
}

// nextItem splits the first item off a comma-separated header value and
// returns it without surrounding spaces, and the rest.
func nextItem(v []byte) (item, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return bytes.TrimSpace(v[:i]), v[i+1:]
	}
	return bytes.TrimSpace(v), nil
}
