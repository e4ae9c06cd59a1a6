package server

import (
	"bytes"
	"errors"
	"unsafe"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/valyala/fasthttp"
)

// user serves /user/{username}; seg is the rest of the path as sent.
func (s *Server) user(ctx *fasthttp.RequestCtx, seg []byte) {
	get := isGetOrHead(ctx)
	if !get && !ctx.IsPut() && !ctx.IsDelete() {
		ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
		if ctx.IsOptions() {
			options(ctx, allowUser)
			return
		}
		methodNotAllowed(ctx, allowUser)
		return
	}
	raw, ok := pathName(seg)
	if !ok {
		ctx.Response.Header.SetCanonical(hdrCacheStatus, csBypass)
		writeError(ctx, fasthttp.StatusNotFound, "User not found.")
		return
	}
	if get {
		s.getUser(ctx, raw)
		return
	}
	ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
	// The store keeps the name: copy it out of the request's buffer.
	name := string(raw)
	if ctx.IsPut() {
		s.updateUser(ctx, name)
	} else {
		s.deleteUser(ctx, name)
	}
}

// getUser answers GET and HEAD. For HEAD it writes the same body, which
// fasthttp does not send but counts in Content-Length.
//
// The name aliases the request's path bytes: Cache.Get copies it if it keeps
// it, and nothing here keeps it past the return.
func (s *Server) getUser(ctx *fasthttp.RequestCtx, raw []byte) {
	name := unsafe.String(unsafe.SliceData(raw), len(raw))
	res, err := s.cache.Get(background, name)
	cs := csMiss // the store failed
	switch {
	case res.Source == core.SourceL1:
		cs = csHitL1
	case res.Source == core.SourceL2:
		cs = csHitL2
	case err == nil || errors.Is(err, core.ErrNotFound):
		cs = csStored
	}
	ctx.Response.Header.SetCanonical(hdrCacheStatus, cs)
	switch {
	case err == nil:
		tail := "' found in cache.\"}\n"
		if res.Source == core.SourceStore {
			tail = "' retrieved from store.\"}\n"
		}
		writeUser(ctx, res.Value, name, tail)
	case errors.Is(err, core.ErrNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "User not found.")
	default:
		s.log.Error("cannot read user", "user", string(raw), "err", err)
		unavailable(ctx)
	}
}

// writeUser writes {"data":body,"message":"User 'name<tail>, where tail
// closes the message, the object and the line. name is a valid name, which
// needs no escaping. It appends to the response's pooled buffer and
// allocates nothing.
func writeUser(ctx *fasthttp.RequestCtx, body []byte, name, tail string) {
	r := &ctx.Response
	r.AppendBodyString(`{"data":`)
	r.AppendBody(body)
	r.AppendBodyString(`,"message":"User '`)
	r.AppendBodyString(name)
	r.AppendBodyString(tail)
}

// register serves POST /register.
func (s *Server) register(ctx *fasthttp.RequestCtx) {
	u, ok := parseRequest(ctx, "")
	if !ok {
		return
	}
	body, err := s.cache.Create(background, u)
	switch {
	case err == nil:
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.Response.Header.SetCanonical(hdrLocation, []byte(userPrefix+u.Name))
		writeUser(ctx, body, u.Name, "' registered successfully.\"}\n")
	case errors.Is(err, users.ErrExists):
		writeError(ctx, fasthttp.StatusConflict, "User '"+u.Name+"' already exists.")
	default:
		// No user name: it comes from the body, and logs carry no body bytes.
		s.log.Error("cannot register user", "err", err)
		unavailable(ctx)
	}
}

// updateUser serves PUT /user/{name}.
func (s *Server) updateUser(ctx *fasthttp.RequestCtx, name string) {
	u, ok := parseRequest(ctx, name)
	if !ok {
		return
	}
	body, err := s.cache.Update(background, u)
	switch {
	case err == nil:
		writeUser(ctx, body, name, "' updated.\"}\n")
	case errors.Is(err, core.ErrNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "User not found.")
	default:
		s.log.Error("cannot update user", "user", name, "err", err)
		unavailable(ctx)
	}
}

// deleteUser serves DELETE /user/{name}.
func (s *Server) deleteUser(ctx *fasthttp.RequestCtx, name string) {
	err := s.cache.Delete(background, name)
	switch {
	case err == nil:
		ctx.Response.AppendBodyString(`{"message":"User '` + name + `' deleted."}` + "\n")
	case errors.Is(err, core.ErrNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "User not found.")
	default:
		s.log.Error("cannot delete user", "user", name, "err", err)
		unavailable(ctx)
	}
}

// parseRequest checks the Content-Type and parses the body of a register
// (name == "") or an update; on failure it writes the 415 or 400 answer and
// returns false.
func parseRequest(ctx *fasthttp.RequestCtx, name string) (users.User, bool) {
	if !isJSONContentType(ctx.Request.Header.ContentType()) {
		writeError(ctx, fasthttp.StatusUnsupportedMediaType, "Content-Type must be application/json.")
		return users.User{}, false
	}
	u, msg := parseUser(ctx.PostBody(), name)
	if msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, msg)
		return users.User{}, false
	}
	return u, true
}

// pathName returns the user name in seg, the path after /user/ as sent, and
// whether it is a valid name. A name has only unreserved characters
// (RFC 3986 section 2.3), whose percent-encoded forms are equivalent to
// them, so an escape is decoded: /user/%6Biran is kiran. An escape of any
// other byte ("/" as %2F, "%", a space) cannot be in a name, so
// /user/a%2Fb is the invalid name "a/b" and never another route. seg itself
// is returned, without allocating, when it has no escape or is invalid.
func pathName(seg []byte) ([]byte, bool) {
	if bytes.IndexByte(seg, '%') < 0 {
		return seg, validName(seg)
	}
	n := 0 // the decoded length; checked before anything is allocated
	for i := 0; i < len(seg); i, n = i+1, n+1 {
		c := seg[i]
		if c == '%' {
			d, ok := unhex2(seg[i+1:])
			if !ok {
				return seg, false
			}
			c = d
			i += 2
		}
		if !nameByte(c) || n >= maxNameLen {
			return seg, false
		}
	}
	name := make([]byte, 0, n)
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c == '%' {
			c, _ = unhex2(seg[i+1:])
			i += 2
		}
		name = append(name, c)
	}
	return name, validName(name)
}

// unhex2 decodes the two hex digits at the start of b.
func unhex2(b []byte) (byte, bool) {
	if len(b) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(b[0])
	lo, ok2 := unhex(b[1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
