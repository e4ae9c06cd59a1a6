package main

import (
	"path/filepath"
	"testing"

	"github.com/tiercache/tiercache/internal/tlstest"
)

// The built binary, given the CA and a client certificate, serves the
// README's flow from a Redis that speaks only TLS to it and requires
// client certificates: the registration lands in L2, the first read is an
// L2 hit, the next an L1 hit.
func TestTLSFlow(t *testing.T) {
	t.Parallel()
	srv := tlstest.StartRedis(t, true)
	f := srv.Files
	base := startProcess(t, "-store", "bolt:"+filepath.Join(t.TempDir(), "db"), "-redis", srv.TLSURL(),
		"-redis-tls-ca", f.CA, "-redis-tls-cert", f.ClientCert, "-redis-tls-key", f.ClientKey).base
	if r := register(t, base, "kiran"); r.status != 201 {
		t.Fatalf("register = %d %s; want 201", r.status, r.body)
	}
	for i, want := range []string{"tiercache; hit; detail=l2", "tiercache; hit; detail=l1"} {
		if r := do(t, "GET", base+"/user/kiran", ""); r.status != 200 || r.cacheStatus != want {
			t.Fatalf("GET %d = %d %s %q; want 200 and %q", i, r.status, r.body, r.cacheStatus, want)
		}
	}
	if r := do(t, "GET", base+"/readyz", ""); r.status != 200 || r.body != `{"redis":"ok","status":"ready","store":"ok"}`+"\n" {
		t.Fatalf("readyz = %d %s; want redis ok", r.status, r.body)
	}
	// The user is in Redis: the tier wrote it over TLS.
	if v, err := srv.Do("GET", "tiercache:user:kiran"); err != nil || v == "" {
		t.Fatalf("Redis holds %q, %v for tiercache:user:kiran; want the user", v, err)
	}
}
