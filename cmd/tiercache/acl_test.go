package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
)

// Two instances on one PostgreSQL, logged in to Redis as the README's ACL
// user: a registration on one is an L2 hit, then an L1 hit, on the other;
// an update on one is what the other serves next; and Redis refused
// nothing.
func TestREADMEACLServes(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t, pgtest.Start(t))
	srv := redistest.Start(t)
	if _, err := srv.Do(redistest.READMEACL(t, secret)...); err != nil {
		t.Fatal(err)
	}
	url := "redis://tiercache:" + secret + "@" + strings.TrimPrefix(srv.URL(), "redis://")
	a := startInProcess(t, "-store", db, "-redis", url)
	b := startInProcess(t, "-store", db, "-redis", url)
	if r := register(t, a, "kiran"); r.status != 201 {
		t.Fatalf("register on a = %d %s; want 201", r.status, r.body)
	}
	for i, want := range []string{"tiercache; hit; detail=l2", "tiercache; hit; detail=l1"} {
		if r := do(t, "GET", b+"/user/kiran", ""); r.status != 200 || r.cacheStatus != want {
			t.Fatalf("GET %d on b = %d %s %q; want 200 and %q", i, r.status, r.body, r.cacheStatus, want)
		}
	}
	if r := do(t, "PUT", a+"/user/kiran", `{"email":"kiran@example.org"}`); r.status != 200 {
		t.Fatalf("PUT on a = %d %s; want 200", r.status, r.body)
	}
	// b drops its L1 copy when the invalidation arrives, within moments.
	deadline := time.Now().Add(5 * time.Second)
	for r := do(t, "GET", b+"/user/kiran", ""); !strings.Contains(r.body, "kiran@example.org"); r = do(t, "GET", b+"/user/kiran", "") {
		if time.Now().After(deadline) {
			t.Fatalf("GET on b 5s after the update = %d %s; want the new email", r.status, r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, base := range []string{a, b} {
		if r := do(t, "GET", base+"/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"redis":"ok"`) {
			t.Fatalf("readyz = %d %s; want redis ok", r.status, r.body)
		}
	}
	if n, err := srv.Do("ACL", "LOG"); err != nil || n != "0" {
		t.Fatalf("ACL LOG has %s entries (%v); want none (redis-cli ACL LOG shows them)", n, err)
	}
}
