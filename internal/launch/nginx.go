package launch

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// NginxInstallHint tells how to get nginx.
const NginxInstallHint = "nginx not found in PATH or /usr/sbin; install it (Debian: apt-get install nginx-light) or run `make deps`, which does"

// NginxOptions tunes StartNginxCache. The zero value is one worker, a 16m
// keys zone, a 256m cache and no proxy_cache_valid.
type NginxOptions struct {
	WorkerProcesses int    // worker_processes; 0 means 1
	KeysZone        string // size of the proxy_cache_path keys_zone; "" means 16m
	MaxSize         string // max_size of proxy_cache_path; "" means 256m
	// DefaultValid, such as "1h", is how long a 200 that states no
	// freshness of its own is kept (proxy_cache_valid 200), for an origin
	// that sends none; what the origin states still wins. "" means that
	// such an answer is not cached.
	DefaultValid string
}

// Nginx is one nginx caching reverse proxy: a master process and its
// workers, listening on a loopback port.
type Nginx struct {
	proxy
}

// StartNginxCache starts nginx on a free loopback port as a caching reverse
// proxy in front of origin (http://HOST:PORT), and returns once it answers
// HTTP (at most 30s). Its configuration (nginx.conf), pid file, temporary
// files, cache (cache/) and log (nginx.log) go in dir, which must exist;
// the access log is off. See nginxConf for what is cached.
//
// As root, nginx runs as the www-data system user, which gets dir, and
// every parent of dir must let that user through, as for StartPostgres.
//
// A missing binary gives an error that wraps ErrNotInstalled.
func StartNginxCache(dir, origin string, opt NginxOptions) (*Nginx, error) {
	bin, err := lookSbin("nginx")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", NginxInstallHint, ErrNotInstalled)
	}
	host, originPort, err := originHostPort(origin)
	if err != nil {
		return nil, err
	}
	cred, err := runAs("www-data", "nginx is not run as root here", "Debian's base-passwd creates it")
	if err != nil {
		return nil, err
	}
	if dir, err = prepareDir(dir, "www-data", cred); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("cannot find a free port: %w", err)
	}
	n := &Nginx{proxy{name: "nginx", addr: "127.0.0.1:" + strconv.Itoa(port), logPath: filepath.Join(dir, "nginx.log")}}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, n.addr, net.JoinHostPort(host, originPort), opt)), 0o644); err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", conf, err)
	}
	for _, d := range []string{"tmp", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := n.start(dir, "www-data", cred, bin, "-p", dir+"/", "-c", conf, "-e", "stderr"); err != nil {
		return nil, err
	}
	return n, nil
}

// validLine is the proxy_cache_valid directive for d, after a newline, or
// "" for none.
func validLine(d string) string {
	if d == "" {
		return ""
	}
	return "\n            proxy_cache_valid 200 " + d + ";"
}

// sbinDir is where Debian puts nginx and varnishd, which a non-root PATH
// leaves out.
var sbinDir = "/usr/sbin"

// lookSbin finds name in PATH or else in sbinDir.
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(sbinDir, name)
	if !isExecutable(p) {
		return "", fmt.Errorf("%s not found", name)
	}
	return p, nil
}

// nginxConf is the configuration StartNginxCache writes.
//
// Freshness comes from the origin: nginx caches a GET or HEAD response for
// as long as X-Accel-Expires, Cache-Control max-age or Expires allow, and
// does not cache one that has none of them (unless opt.DefaultValid gives
// a 200 its proxy_cache_valid), that says no-store, no-cache or private,
// that sets a cookie or that has Vary: *. It honours stale-while-revalidate and stale-if-error
// from Cache-Control; proxy_cache_use_stale serves a stale copy when the
// origin fails whatever the origin said. Unlike Varnish it caches requests
// with Cookie or Authorization. The key is the default, scheme, proxy host
// and request URI.
func nginxConf(dir, listen, origin string, opt NginxOptions) string {
	workers := opt.WorkerProcesses
	if workers <= 0 {
		workers = 1
	}
	zone := cmp.Or(opt.KeysZone, "16m")
	maxSize := cmp.Or(opt.MaxSize, "256m")
	r := strings.NewReplacer(
		"DIR", dir,
		"WORKERS", strconv.Itoa(workers),
		"LISTEN", listen,
		"ORIGIN", origin,
		"ZONE", zone,
		"MAXSIZE", maxSize,
		"VALID", validLine(opt.DefaultValid),
	)
	return r.Replace(`# Written by tiercache's internal/launch (StartNginxCache).
daemon off;
master_process on;
worker_processes WORKERS;
pid DIR/nginx.pid;
error_log stderr warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path DIR/tmp/body;
    proxy_temp_path DIR/tmp/proxy;
    fastcgi_temp_path DIR/tmp/fastcgi;
    uwsgi_temp_path DIR/tmp/uwsgi;
    scgi_temp_path DIR/tmp/scgi;

    proxy_cache_path DIR/cache levels=1:2 keys_zone=tiercache:ZONE max_size=MAXSIZE use_temp_path=off;

    upstream origin {
        server ORIGIN;
        keepalive 64;
    }

    server {
        listen LISTEN;

        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache tiercache;
            proxy_cache_lock on;VALID
            proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504;
            add_header X-Cache-Status $upstream_cache_status always;
        }
    }
}
`)
}
