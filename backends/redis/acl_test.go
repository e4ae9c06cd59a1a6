package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
	"github.com/tiercache/tiercache/internal/redistest"
)

// The README's ACL is enough: under it the tier keeps every promise of
// core.Shared, follows invalidations, and recovers from an outage through
// its PING probe; and Redis denied it nothing (ACL LOG stays empty, so no
// command is refused and ignored either).
func TestREADMEACL(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do(redistest.READMEACL(t, "s3cretacl")...); err != nil {
		t.Fatal(err)
	}
	url := "redis://tiercache:s3cretacl@" + strings.TrimPrefix(srv.URL(), "redis://")
	newPrefix := func() string { return fmt.Sprintf("tiercache:user:acl%d:", prefixes.Add(1)) }
	newACLTierAt := func(t *testing.T, prefix string, inv core.Invalidator) *redis.Tier {
		tier, err := redis.New(redis.Config{URL: url, Timeout: time.Second, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		tier.Subscribe(inv)
		t.Cleanup(tier.Close)
		return tier
	}
	newACLTier := func(t *testing.T, inv core.Invalidator) *redis.Tier { return newACLTierAt(t, newPrefix(), inv) }
	coretest.TestShared(t, func(t *testing.T) (core.Shared, core.Shared) {
		prefix := newPrefix()
		return newACLTierAt(t, prefix, &recorder{}), newACLTierAt(t, prefix, &recorder{})
	})

	ctx := context.Background()
	var r recorder
	tier := newACLTier(t, &r)
	if _, _, err := tier.Get(ctx, "kiran"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("SET", fmt.Sprintf("tiercache:user:acl%d:kiran", prefixes.Load()), "v2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalidation of kiran", func() bool { return r.has("kiran") })

	srv.Pause()
	waitFor(t, "the breaker to open", func() bool {
		_, _, err := tier.Get(ctx, "other")
		return err != nil && tier.Status() == "degraded"
	})
	srv.Resume()
	waitFor(t, "the probe to close the breaker", func() bool { return tier.Status() == "ok" })
	if err := tier.Set(ctx, "k", []byte(`"v"`), time.Minute); err != nil {
		t.Fatalf("Set after recovery: %v", err)
	}
	if n, err := srv.Do("ACL", "LOG"); err != nil || n != "0" {
		t.Fatalf("ACL LOG has %s entries (%v); want none (redis-cli ACL LOG shows them)", n, err)
	}
}
