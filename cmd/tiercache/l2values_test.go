package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/redistest"
)

// What an attacker with access to Redis, or an old store's leftovers, put
// under a user's key: the built binary serves the user from its store, then
// from Redis again once it repaired the key, and counts what it refused.
// A write goes through whatever version Redis held.
func TestPoisonedRedisValues(t *testing.T) {
	srv := redistest.Start(t)
	base := startProcess(t, "-store", "memory", "-redis", srv.URL()).base
	for _, name := range []string{"p3", "bob"} {
		if r := register(t, base, name); r.status != 201 {
			t.Fatalf("register %s = %d %s", name, r.status, r.body)
		}
	}
	p3 := `{"data":{"email":"p3@example.com","username":"p3"},"message":"User 'p3' `
	for i, raw := range []string{
		`{"v":999999999,"d":{"email":"attacker@evil.com","username":"bob"}}`,
		`{"v":999999999,"d":<html>garbage</html>}`,
		`{"v":999999999,"d":}`,
		`{"v":999999999,"d":null}`,
		`{"v":999999999}`,
		`{"v":999999999,"d":{"email":"` + strings.Repeat("a", 20<<20) + `@x.com","username":"p3"}}`,
	} {
		if _, err := srv.Do("SET", "tiercache:user:p3", raw); err != nil {
			t.Fatal(err)
		}
		// Every answer carries p3's data, from L1 until the SET's
		// invalidation arrives, then from the store, until a read repaired
		// Redis and the next one is an L2 hit.
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := do(t, "GET", base+"/user/p3", "")
			if r.status != 200 || !strings.HasPrefix(r.body, p3) {
				t.Fatalf("value %d: GET /user/p3 = %d %.200s; want 200 with p3's data", i, r.status, r.body)
			}
			if r.cacheStatus == "tiercache; hit; detail=l2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("value %d: GET /user/p3 still answers %q after 10s; want an L2 hit once Redis is repaired", i, r.cacheStatus)
			}
		}
		raw, err := srv.Do("GET", "tiercache:user:p3")
		if err != nil || !strings.HasSuffix(raw, `,"d":{"email":"p3@example.com","username":"p3"}}`) || len(raw) > 100 {
			t.Fatalf("value %d: Redis holds %.100q, %v; want p3's data", i, raw, err)
		}
	}
	if r := do(t, "GET", base+"/metrics", ""); !regexp.MustCompile(`\ntiercache_l2_rejected_total ([5-9]|\d\d)\n`).MatchString(r.body) {
		t.Errorf("/metrics counts fewer than 5 rejected values:\n%s", r.body)
	}

	// A well-formed value with a version no write gave is served until the
	// next write, which lands anyway.
	if _, err := srv.Do("SET", "tiercache:user:p3", `{"v":999999999,"d":{"email":"attacker@evil.com","username":"p3"}}`); err != nil {
		t.Fatal(err)
	}
	r := do(t, "PUT", base+"/user/p3", `{"email":"new@example.com"}`)
	if r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	for range 3 {
		if r := do(t, "GET", base+"/user/p3", ""); !strings.Contains(r.body, `"new@example.com"`) {
			t.Fatalf("GET after PUT = %d %s (%s); want new@example.com", r.status, r.body, r.cacheStatus)
		}
	}
	if raw, err := srv.Do("GET", "tiercache:user:p3"); err != nil || !strings.Contains(raw, "new@example.com") {
		t.Fatalf("Redis holds %q, %v after the PUT; want the new email", raw, err)
	}
}
