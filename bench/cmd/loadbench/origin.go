package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The origin serves /item/N for N below its key count: a JSON body of
// about itemSize bytes that names the item's version, cacheable for an
// hour, with an ETag. A PUT of /item/N makes a new version and answers it,
// uncacheable. GET /_stats answers the requests it counted, itself aside.

const itemSize = 200

var itemPrefix = []byte("/item/")

// itemKey returns N of /item/N, or false.
func itemKey(path []byte, keys int) (int, bool) {
	if len(path) <= len(itemPrefix) || string(path[:len(itemPrefix)]) != string(itemPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(string(path[len(itemPrefix):]))
	return n, err == nil && n >= 0 && n < keys
}

// appendItem appends the body of version v of item n.
func appendItem(b []byte, n int, v uint64) []byte {
	start := len(b)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, v, 10)
	b = append(b, `,"name":"item `...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","description":"`...)
	for len(b)-start < itemSize-3 {
		b = append(b, 'x')
	}
	return append(b, "\"}\n"...)
}

// appendETag appends the ETag of version v of item n.
func appendETag(b []byte, n int, v uint64) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '"')
}

type origin struct {
	delay    time.Duration
	versions []atomic.Uint64
	gets     atomic.Int64
	puts     atomic.Int64
	others   atomic.Int64
}

func (o *origin) serve(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) == "/_stats" {
		fmt.Fprintf(ctx, `{"gets":%d,"puts":%d,"others":%d}`, o.gets.Load(), o.puts.Load(), o.others.Load())
		return
	}
	if o.delay > 0 {
		time.Sleep(o.delay)
	}
	n, ok := itemKey(ctx.Path(), len(o.versions))
	switch {
	case !ok:
		o.others.Add(1)
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	case ctx.IsGet() || ctx.IsHead():
		o.gets.Add(1)
		o.writeItem(ctx, n, o.versions[n].Load(), "max-age=3600")
	case ctx.IsPut():
		o.puts.Add(1)
		o.writeItem(ctx, n, o.versions[n].Add(1), "no-store")
	default:
		o.others.Add(1)
		ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	}
}

func (o *origin) writeItem(ctx *fasthttp.RequestCtx, n int, v uint64, cc string) {
	var buf [32]byte
	h := &ctx.Response.Header
	h.SetContentType("application/json")
	h.Set("Cache-Control", cc)
	h.SetBytesV("ETag", appendETag(buf[:0], n, v))
	ctx.Response.SetBodyRaw(appendItem(ctx.Response.Body()[:0], n, v))
}

// bare answers every GET of /item/N as tiercache proxy answers an L1 hit of
// its first version, and a PUT as the origin does, with nothing behind it.
type bare struct {
	bodies, etags [][]byte
	puts          origin
}

var (
	hdrCacheStatus = []byte("Cache-Status")
	csHit          = []byte("tiercache; hit; detail=l1; ttl=3599")
	hdrAge         = []byte("Age")
	ageZero        = []byte("0")
	hdrCC          = []byte("Cache-Control")
	maxAge         = []byte("max-age=3600")
	hdrETag        = []byte("Etag")
	ctJSON         = []byte("application/json")
)

func (b *bare) serve(ctx *fasthttp.RequestCtx) {
	n, ok := itemKey(ctx.Path(), len(b.bodies))
	if !ok || !(ctx.IsGet() || ctx.IsHead()) {
		b.puts.serve(ctx)
		return
	}
	h := &ctx.Response.Header
	h.SetContentTypeBytes(ctJSON)
	h.SetCanonical(hdrCC, maxAge)
	h.SetCanonical(hdrETag, b.etags[n])
	h.SetCanonical(hdrAge, ageZero)
	h.SetCanonical(hdrCacheStatus, csHit)
	ctx.Response.SetBodyRaw(b.bodies[n])
}

func serveOrigin(ctx context.Context, addr string, keys int, delay time.Duration) error {
	o := &origin{delay: delay, versions: make([]atomic.Uint64, keys)}
	return serve(ctx, addr, o.serve)
}

func serveBare(ctx context.Context, addr string, keys int) error {
	b := &bare{bodies: make([][]byte, keys), etags: make([][]byte, keys)}
	b.puts.versions = make([]atomic.Uint64, keys)
	for n := range keys {
		b.bodies[n], b.etags[n] = appendItem(nil, n, 0), appendETag(nil, n, 0)
	}
	return serve(ctx, addr, b.serve)
}

// serve serves h on addr, with tiercache's server settings, until ctx ends.
func serve(ctx context.Context, addr string, h fasthttp.RequestHandler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler: h, Name: "tiercache",
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		DisablePreParseMultipartForm: true, CloseOnShutdown: true,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.ShutdownWithContext(sctx)
}
