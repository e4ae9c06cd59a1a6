package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/tiercache/tiercache/internal/launch"
)

// The Flask origin is the user API of the service tiercache succeeds
// (bench/origins/flask/app.py), run by python3 with Flask's own threaded
// server, seeded with the users user0 to user(keys-1). Like that service it
// sends no Cache-Control, so each proxy in front is told to keep a 200 for
// flaskTTL: tiercache proxy with -default-ttl, nginx with proxy_cache_valid,
// Varnish with its default_ttl parameter. A PUT of /user/userN changes the
// user's email.

// flaskApp is the app's path from the repository root.
const flaskApp = "bench/origins/flask/app.py"

// flaskTTL is how long every proxy keeps an answer of the Flask origin, in
// seconds: the Go origin's max-age, so that no target refills a key while
// a run lasts.
const flaskTTL = 3600

// flaskInstallHint tells how to get a python3 that imports flask.
const flaskInstallHint = "python3 with Flask not found; install it (Debian: apt-get install python3-flask) or run make deps, which does"

// flaskTargets are the default targets with -origin flask: bare answers the
// Go origin's items and has no Flask counterpart.
var flaskTargets = []string{"origin", "tiercache", "nginx", "varnish"}

// itemPrefix is the path of the origin's keys without the key's number.
func (c config) itemPrefix() string {
	if c.origin == "flask" {
		return "/user/user"
	}
	return "/item/"
}

// putBody is the body of the mixed workload's PUTs, one the origin takes.
func (c config) putBody() string {
	if c.origin == "flask" {
		return `{"email":"changed@example.com"}`
	}
	return `{"name":"new"}`
}

// tiercacheFlags, nginxValid and varnishTTLArgs give an origin that states
// no freshness its TTL in each proxy.
func (c config) tiercacheFlags() []string {
	if c.origin == "flask" {
		return []string{"-default-ttl", strconv.Itoa(flaskTTL) + "s"}
	}
	return nil
}

func (c config) nginxValid() string {
	if c.origin == "flask" {
		return strconv.Itoa(flaskTTL) + "s"
	}
	return ""
}

func (c config) varnishTTLArgs() []string {
	if c.origin == "flask" {
		return []string{"-p", "default_ttl=" + strconv.Itoa(flaskTTL)}
	}
	return nil
}

// originCaption says, under the table, what the origin is and how each
// target caches it.
func originCaption(c config) string {
	var b strings.Builder
	if c.origin == "flask" {
		fmt.Fprintf(&b, "Origin: the Flask user API (`%s`, python3 with Flask's own threaded server, which closes the connection after every answer), "+
			"users `/user/user0` to `/user/user%d`; `loadbench -origin flask` (make bench-full). "+
			"It sends no Cache-Control, as the service it stands for did, so every proxy is told to keep a 200 for %d s: "+
			"tiercache proxy `%s`, nginx `proxy_cache_valid 200 %s`, Varnish `-p default_ttl=%d`. "+
			"A mixed-workload PUT changes the user's email; tiercache drops the URI on every instance, nginx and Varnish keep serving their copy. "+
			"No `bare` target: it serves the Go origin's bytes.",
			flaskApp, c.keys-1, flaskTTL, strings.Join(c.tiercacheFlags(), " "), c.nginxValid(), flaskTTL)
	} else {
		b.WriteString("Origin: the Go origin, `/item/0` to `/item/N`, `Cache-Control: max-age=3600`.")
	}
	b.WriteString(" `origin` is wrk straight at a second origin process on the target's CPU: no cache, every request reaches it.\n\n")
	return b.String()
}

// flaskPython returns a python3 that imports flask: the one in PATH, else
// Debian's, where apt's python3-flask goes.
func flaskPython() (string, error) {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		bin, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command(bin, "-c", "import sys, flask; print(sys.executable)").Output()
		if exe := strings.TrimSpace(string(out)); err == nil && exe != "" {
			return exe, nil
		}
	}
	return "", errors.New(flaskInstallHint)
}

// startOrigin starts an origin of c's kind, with c's keys, on a free port
// and cpu; it returns the origin's URL and process.
func (e *env) startOrigin(name string, cpu int) (string, *proc, error) {
	port, err := launch.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	url := "http://" + addr
	var p *proc
	if e.c.origin == "flask" {
		if _, err := os.Stat(flaskApp); err != nil {
			return "", nil, fmt.Errorf("run loadbench from the repository root: %s not found", flaskApp)
		}
		py, err := flaskPython()
		if err != nil {
			return "", nil, err
		}
		p, err = startProc(name, e.dir, cpu, url, "/_stats", py, flaskApp, "--port", strconv.Itoa(port), "--users", strconv.Itoa(e.c.keys))
		if err != nil {
			return "", nil, err
		}
	} else {
		p, err = startProc(name, e.dir, cpu, url, "/_stats", e.self, "-mode", "origin", "-listen", addr,
			"-keys", strconv.Itoa(e.c.keys), "-origin-delay", e.c.originDelay.String())
		if err != nil {
			return "", nil, err
		}
	}
	e.stops = append(e.stops, p.stop)
	return url, p, nil
}

// startOriginTarget starts the origin target: a second origin on the
// target's CPU, which wrk reaches with no cache in between. Its own
// requests are counted, so its origin requests per 1,000 are 1,000.
func (e *env) startOriginTarget() (*target, error) {
	url, p, err := e.startOrigin("origin-target", e.c.serverCPU)
	if err != nil {
		return nil, err
	}
	return &target{name: "origin", url: url, pids: []int{p.cmd.Process.Pid}, stats: url}, nil
}
