// Package server is the HTTP front of tiercache: fasthttp handlers for the
// routes of docs/api.md (register, read, update and delete a user; health and
// readiness) on top of a core.Cache. It imports core and fasthttp only; the
// backends are wired together by cmd/tiercache.
//
// # Contract
//
//   - Every answer but OPTIONS's 204 is JSON: Content-Type application/json,
//     compact, keys in sorted order, one trailing newline, no HTML
//     escaping; every answer has X-Content-Type-Options: nosniff. Errors
//     are {"error":"<text>"} with the texts of docs/api.md, including routing
//     errors, unreadable requests and oversized bodies (see
//     Server.HTTPServer's ErrorHandler) and panics (500, logged with their
//     stack).
//   - Routing is a hand switch on the path as sent (URI.PathOriginal), not
//     the decoded, normalized RequestCtx.Path, so that no escape changes
//     the route; only the name of /user/{username} is percent-decoded. A
//     name that cannot be valid is answered 404 without touching the cache.
//     Every answer on /user/{username} carries an RFC 9211 Cache-Status
//     header naming the tier that answered.
//   - Request bodies are limited to 64 KiB; reads, writes and idle
//     keep-alive connections are bounded by Config's timeouts.
//   - A store or cache failure is a 503 with Retry-After: 1, logged (the
//     caller's logger rate-limits repeats; see internal/ratelog).
//   - Logs never carry request header or body bytes; a client's broken
//     request is a debug line with a fixed text.
//
// # Connections
//
// Serve, rather than HTTPServer().Serve, is the way to serve: it tracks
// connections through fasthttp's ConnState hook, closes the connection idle
// longest when Config.MaxConns nears or when accept runs out of file
// descriptors, retries temporary accept errors instead of returning, and
// lets the ErrorHandler close a connection that never sent a byte without
// answering it.
//
// # Concurrency and lifetimes
//
// A Server is safe for concurrent use; it holds no per-request state. The
// handlers never keep the RequestCtx or any slice of it after they return,
// and never pass the RequestCtx to the cache as a context.Context: it has no
// deadline and is recycled after the handler returns (docs/libraries.md, fasthttp). The
// cache gets context.Background() and applies its own deadlines.
//
// A read passes the name to Cache.Get as a string that aliases the request's
// path bytes, without a copy: Cache.Get copies a name before keeping it.
// Writes copy the name, since the store keeps it.
//
// # Hot path
//
// A GET of a user in L1 allocates nothing: the cache returns the rendered
// user JSON, and the handler appends the envelope around it into the
// response's pooled buffer. alloc_test.go holds it to 0 allocations.
//
// Per request, fasthttp sets three socket deadlines for Config's timeouts,
// each costing two clock reads and an update of the runtime's timer heap,
// and reads the clock once more for RequestCtx.Time. That last read is
// skipped (LazyRequestTime, no handler calls Time), and a deadline later
// than the one the socket has is only recorded (see conn): the timeouts
// stay exact. BenchmarkServeConn measures the whole request loop against
// loadtest/cmd/bare's server.
package server
