package server

import (
	"errors"
	"unsafe"

	"github.com/tiercache/tiercache/core"
	"github.com/valyala/fasthttp"
)

// user serves /user/{username}; raw is the rest of the decoded path.
func (s *Server) user(ctx *fasthttp.RequestCtx, raw []byte) {
	get := isGetOrHead(ctx)
	if !get && !ctx.IsPut() && !ctx.IsDelete() {
		ctx.Response.Header.SetCanonical(hdrCacheStatus, csMethod)
		methodNotAllowed(ctx, allowUser)
		return
	}
	if !validName(raw) {
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
		writeUser(ctx, res.Body, name, tail)
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
	case errors.Is(err, core.ErrExists):
		writeError(ctx, fasthttp.StatusConflict, "User '"+u.Name+"' already exists.")
	default:
		s.log.Error("cannot register user", "user", u.Name, "err", err)
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
func parseRequest(ctx *fasthttp.RequestCtx, name string) (core.User, bool) {
	if !isJSONContentType(ctx.Request.Header.ContentType()) {
		writeError(ctx, fasthttp.StatusUnsupportedMediaType, "Content-Type must be application/json.")
		return core.User{}, false
	}
	u, msg := parseUser(ctx.PostBody(), name)
	if msg != "" {
		writeError(ctx, fasthttp.StatusBadRequest, msg)
		return core.User{}, false
	}
	return u, true
}
