package redis_test

import (
	"strings"
	"testing"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/internal/redistest"
)

// checkStartError checks that New refused url with a one-line error that
// contains want and no secret.
func checkStartError(t *testing.T, url, want string) {
	t.Helper()
	tier, err := redis.New(redis.Config{URL: url})
	if err == nil {
		tier.Close()
		t.Fatalf("New(%q) = nil error; want one containing %q", url, want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("New(%q) error = %q; want it to contain %q", url, msg, want)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("New(%q) error has several lines: %q", url, msg)
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("New(%q) error shows the password: %q", url, msg)
	}
}

// A URL that does not parse, or that would turn client tracking off, is
// refused before any connection, and the error never shows its password.
func TestBadURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"http://nope", `redis: invalid URL "http://nope": invalid URL scheme: http`},
		{"foo://bar", `redis: invalid URL "foo://bar": invalid URL scheme: foo`},
		{"localhost:6379", `redis: invalid URL "localhost:6379": invalid URL scheme: localhost`},
		{"127.0.0.1:6379", `redis: invalid URL "127.0.0.1:6379": first path segment in URL cannot contain colon`},
		{"redis://127.0.0.1:notaport", `redis: invalid URL "redis://127.0.0.1:notaport": invalid port ":notaport" after host`},
		{"redis://u:s3cret@[::1", `redis: invalid URL "redis://xxxxx@[::1": missing ']' in host`},
		{"redis://:s3cret@127.0.0.1/1/2", `redis: invalid URL "redis://:xxxxx@127.0.0.1/1/2": invalid URL path: /1/2`},
		{"redis://:s3cret@127.0.0.1:1?protocol=2", `redis: invalid URL "redis://:xxxxx@127.0.0.1:1?protocol=2": protocol=2 turns off`},
		{"redis://127.0.0.1:1?client_cache=0&password=s3cret", `redis: invalid URL "redis://127.0.0.1:1?client_cache=0&password=xxxxx": client_cache=0 turns off`},
	} {
		checkStartError(t, tc.url, tc.want)
	}
}

// A Redis that answers but refuses what the tier needs fails New with
// Redis' reason, instead of a degraded tier that would retry forever.
func TestRefusedAtStart(t *testing.T) {
	t.Parallel()
	renamed := redistest.Start(t, "--rename-command", "CLIENT", "")
	checkStartError(t, renamed.URL(),
		"refused CLIENT TRACKING, which keeps L1 coherent (unknown command 'CLIENT', with args beginning with: 'TRACKING' 'ON' 'PREFIX'")

	srv := redistest.Start(t)
	if _, err := srv.Do("ACL", "SETUSER", "notrack", "on", ">s3cret", "~*", "+@all", "-client|tracking"); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL(), "redis://")
	checkStartError(t, "redis://notrack:s3cret@"+host,
		"redis: redis://notrack:xxxxx@"+host+" refused CLIENT TRACKING, which keeps L1 coherent (NOPERM this user has no permissions to run the 'client|tracking' command)")
	checkStartError(t, "redis://notrack:wrong-s3cret@"+host,
		"redis: redis://notrack:xxxxx@"+host+" refused the connection: WRONGPASS")
	checkStartError(t, srv.URL()+"/99", "refused the connection: DB index is out of range")
	if _, err := srv.Do("CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	checkStartError(t, srv.URL(), "redis: "+srv.URL()+" refused the connection: NOAUTH")
	checkStartError(t, "redis://:wrong-s3cret@"+host, "refused the connection: WRONGPASS")
	tier, err := redis.New(redis.Config{URL: "redis://:s3cret@" + host})
	if err != nil {
		t.Fatalf("New with the right password: %v", err)
	}
	defer tier.Close()
	if got := tier.Status(); got != "ok" {
		t.Fatalf("Status with the right password = %q; want ok", got)
	}
}
