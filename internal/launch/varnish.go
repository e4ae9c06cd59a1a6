package launch

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// VarnishInstallHint tells how to get varnishd.
const VarnishInstallHint = "varnishd not found in PATH or /usr/sbin; install it (Debian: apt-get install varnish) or run `make deps`, which does"

// VarnishOptions tunes StartVarnish. The zero value is a 256m malloc
// storage and varnishd's default parameters.
type VarnishOptions struct {
	MallocSize string   // size of the malloc storage (-s malloc,SIZE); "" means 256m
	Args       []string // more varnishd arguments, such as "-p", "thread_pools=1"
}

// Varnish is one varnishd: its manager and cache processes, listening on a
// loopback port.
type Varnish struct {
	proxy
}

// StartVarnish starts varnishd in the foreground on a free loopback port in
// front of origin (http://HOST:PORT), and returns once it answers HTTP (at
// most 30s). Its VCL (default.vcl), working directory (varnish/) and log
// (varnishd.log) go in dir, which must exist. See varnishVCL for what is
// cached.
//
// As root, varnishd runs as the varnish system user, which gets dir, and
// every parent of dir must let that user through, as for StartPostgres.
//
// A missing binary gives an error that wraps ErrNotInstalled.
func StartVarnish(dir, origin string, opt VarnishOptions) (*Varnish, error) {
	bin, err := lookSbin("varnishd")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", VarnishInstallHint, ErrNotInstalled)
	}
	host, originPort, err := originHostPort(origin)
	if err != nil {
		return nil, err
	}
	cred, err := runAs("varnish", "varnishd is not run as root here", "Debian's varnish package creates it")
	if err != nil {
		return nil, err
	}
	if dir, err = prepareDir(dir, "varnish", cred); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("cannot find a free port: %w", err)
	}
	v := &Varnish{proxy{name: "varnishd", addr: "127.0.0.1:" + strconv.Itoa(port), logPath: filepath.Join(dir, "varnishd.log")}}
	vcl := filepath.Join(dir, "default.vcl")
	if err := os.WriteFile(vcl, []byte(varnishVCL(host, originPort)), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", vcl, err)
	}
	args := append([]string{
		"-F",
		"-a", v.addr,
		"-n", filepath.Join(dir, "varnish"),
		"-f", vcl,
		"-s", "malloc," + cmp.Or(opt.MallocSize, "256m"),
		"-T", "none",
	}, opt.Args...)
	if err := v.start(dir, "varnish", cred, bin, args...); err != nil {
		return nil, err
	}
	return v, nil
}

// varnishVCL is the VCL StartVarnish writes: the origin as the backend and
// an X-Cache header, and otherwise the builtin VCL, which runs after it.
//
// The builtin VCL passes every request but GET and HEAD, and those with
// Authorization or Cookie. It keys on URL and Host. The TTL comes from
// Cache-Control s-maxage or max-age, or Expires, and is default_ttl (120s)
// when there is none. A response with Set-Cookie, with no-store, no-cache or
// private in Cache-Control, with Vary: * or with no TTL left is not cached
// and marks the object hit-for-miss for 120s. Objects are kept default_grace
// (10s) past their TTL and served stale while one fetch refreshes them, or
// longer when Cache-Control has stale-while-revalidate; there is no
// stale-if-error. Concurrent misses on one object wait for a single fetch.
func varnishVCL(host, port string) string {
	r := strings.NewReplacer("HOST", host, "PORT", port)
	return r.Replace(`# Written by tiercache's internal/launch (StartVarnish).
vcl 4.1;

backend origin {
    .host = "HOST";
    .port = "PORT";
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`)
}
