package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/tiercache/tiercache/internal/syncbuf"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/internal/tlstest"
)

// newTLSTier is newTier on srv's TLS port with tc.
func newTLSTier(t *testing.T, srv *tlstest.Server, tc redis.TLS, inv core.Invalidator) *redis.Tier {
	t.Helper()
	return newTLSTierAt(t, srv, tc, newPrefix(), inv)
}

// newTLSTierAt is newTLSTier on prefix, to share it with another tier.
func newTLSTierAt(t *testing.T, srv *tlstest.Server, tc redis.TLS, prefix string, inv core.Invalidator) *redis.Tier {
	t.Helper()
	tier, err := redis.New(redis.Config{
		URL:     srv.TLSURL(),
		Prefix:  prefix,
		Timeout: time.Second,
		TLS:     tc,
	})
	if err != nil {
		t.Fatal(err)
	}
	tier.Subscribe(inv)
	t.Cleanup(tier.Close)
	if got := tier.Status(); got != "ok" {
		t.Fatalf("Status over TLS = %q; want ok", got)
	}
	return tier
}

// The tier over TLS, with the server verified against a private CA and a
// client certificate that the server requires, keeps every promise of
// core.Shared, read-your-writes included.
func TestTLSShared(t *testing.T) {
	srv := tlstest.StartRedis(t, true)
	f := srv.Files
	tc := redis.TLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey}
	coretest.TestShared(t, func(t *testing.T) (core.Shared, core.Shared) {
		prefix := newPrefix()
		return newTLSTierAt(t, srv, tc, prefix, &recorder{}), newTLSTierAt(t, srv, tc, prefix, &recorder{})
	})
}

// Over TLS, a write by another client reaches the tier as an
// invalidation; a server that asks for no client certificate needs only
// the CA.
func TestTLSInvalidationFeed(t *testing.T) {
	srv := tlstest.StartRedis(t, false)
	ctx := context.Background()
	var r recorder
	tier := newTLSTier(t, srv, redis.TLS{CAFile: srv.Files.CA}, &r)
	if err := tier.Set(ctx, "kiran", []byte(`"v1"`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := tier.Get(ctx, "kiran"); err != nil || !ok || string(v) != `"v1"` {
		t.Fatalf("Get = %q, %v, %v; want \"v1\"", v, ok, err)
	}
	prefix := fmt.Sprintf("test%d:", prefixes.Load())
	if _, err := srv.Do("SET", prefix+"kiran", "v2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalidation of kiran", func() bool { return r.has("kiran") })
}

// Every TLS setting that cannot work stops New with one line that names
// the cause and what to do; none shows a key.
func TestTLSStartErrors(t *testing.T) {
	t.Parallel()
	plain := tlstest.StartRedis(t, false, "--bind", "127.0.0.1 127.0.0.2")
	auth := tlstest.StartRedis(t, true)
	other := tlstest.NewFiles(t) // another CA, and certificates it signed
	f := auth.Files
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		url  string
		tls  redis.TLS
		want string
	}{
		{"no CA: the system's roots", plain.TLSURL(), redis.TLS{},
			"redis: cannot verify the TLS certificate of " + plain.TLSURL() + ": x509: certificate signed by unknown authority: give the CA that signed it with -redis-tls-ca"},
		{"wrong CA", plain.TLSURL(), redis.TLS{CAFile: other.CA},
			"redis: cannot verify the TLS certificate of " + plain.TLSURL() + ": x509: certificate signed by unknown authority (possibly because of"},
		{"wrong name", strings.Replace(plain.TLSURL(), "127.0.0.1", "127.0.0.2", 1), redis.TLS{CAFile: plain.Files.CA},
			"redis: cannot verify the TLS certificate of " + strings.Replace(plain.TLSURL(), "127.0.0.1", "127.0.0.2", 1) +
				": x509: certificate is valid for 127.0.0.1, not 127.0.0.2: name the server in the URL as its certificate does"},
		{"client certificate required", auth.TLSURL(), redis.TLS{CAFile: f.CA},
			"redis: " + auth.TLSURL() + " refused the TLS handshake (remote error: tls: certificate required): it requires a client certificate: give one that its CA signed with -redis-tls-cert and -redis-tls-key"},
		{"client certificate of another CA", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: other.ClientCert, KeyFile: other.ClientKey},
			"redis: " + auth.TLSURL() + " refused the TLS handshake (remote error: tls: "},
		{"certificate without key", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: f.ClientCert},
			"redis: TLS client certificate " + f.ClientCert + " has no key: give both -redis-tls-cert and -redis-tls-key"},
		{"key without certificate", auth.TLSURL(), redis.TLS{CAFile: f.CA, KeyFile: f.ClientKey},
			"redis: TLS client key " + f.ClientKey + " has no certificate: give both -redis-tls-cert and -redis-tls-key"},
		{"certificate and key that do not match", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: other.ClientKey},
			"redis: cannot use TLS client certificate " + f.ClientCert + " with key " + other.ClientKey + ": tls: private key does not match public key"},
		{"key file not PEM", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: junk},
			"redis: cannot use TLS client certificate " + f.ClientCert + " with key " + junk + ": tls: failed to find any PEM data in key input"},
		{"key file where the certificate goes", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: f.ClientKey, KeyFile: f.ClientKey},
			"redis: cannot use TLS client certificate " + f.ClientKey + " with key " + f.ClientKey + ": tls: "},
		{"CA file missing", plain.TLSURL(), redis.TLS{CAFile: missing},
			"redis: cannot read the TLS CA: open " + missing + ": no such file or directory"},
		{"CA file is a directory", plain.TLSURL(), redis.TLS{CAFile: dir},
			"redis: cannot read the TLS CA: read " + dir + ": is a directory"},
		{"CA file not PEM", plain.TLSURL(), redis.TLS{CAFile: junk},
			"redis: TLS CA " + junk + " holds no PEM certificate"},
		{"client key missing", auth.TLSURL(), redis.TLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: missing},
			"redis: cannot read the TLS client key: open " + missing + ": no such file or directory"},
		{"skip_verify without AllowSkipVerify", plain.TLSURL() + "?skip_verify=true", redis.TLS{},
			`redis: invalid URL "` + plain.TLSURL() + `?skip_verify=true": skip_verify turns off the verification of the server's certificate; give its CA with -redis-tls-ca instead, or add -redis-tls-insecure if you mean it`},
		{"TLS files with redis://", plain.URL(), redis.TLS{CAFile: f.CA},
			`redis: TLS files given for "` + plain.URL() + `", a URL without TLS: use rediss://`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A server that checks client certificates resets the
			// connection as often as not before rueidis reads its alert
			// (see tlsRefused): try often enough to take both paths.
			for range 10 {
				tier, err := redis.New(redis.Config{URL: tc.url, TLS: tc.tls})
				if err == nil {
					tier.Close()
					t.Fatalf("New = nil error (Status %q); want one starting %q", tier.Status(), tc.want)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
					t.Fatalf("New error = %q; want one line starting %q", msg, tc.want)
				}
				if bytes.Contains([]byte(msg), bytes.TrimSpace(keyPEM)[30:60]) {
					t.Fatalf("New error shows the key: %q", msg)
				}
			}
		})
	}
}

// skip_verify=true with AllowSkipVerify connects to a server whose CA the
// tier was not given, and says so in a warning.
func TestTLSSkipVerifyAllowed(t *testing.T) {
	t.Parallel()
	srv := tlstest.StartRedis(t, false)
	var logs syncbuf.Buffer
	tier, err := redis.New(redis.Config{
		URL: srv.TLSURL() + "?skip_verify=true", Timeout: time.Second,
		TLS:    redis.TLS{AllowSkipVerify: true},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	ctx := context.Background()
	if err := tier.Set(ctx, "k", []byte(`"v"`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := tier.Get(ctx, "k"); err != nil || !ok || string(v) != `"v"` {
		t.Fatalf("Get = %q, %v, %v; want \"v\"", v, ok, err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN msg=\"redis TLS certificate verification is off") {
		t.Errorf("log lacks the warning:\n%s", out)
	}
}

// A TLS Redis that does not answer, or a proxy in front of it that
// accepts and closes the connection, is not a start-up error: the tier
// starts degraded, as over plain TCP.
func TestTLSDownAtStart(t *testing.T) {
	t.Parallel()
	f := tlstest.NewFiles(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, url := range []string{fmt.Sprintf("rediss://127.0.0.1:%d", port), "rediss://" + ln.Addr().String()} {
		tier, err := redis.New(redis.Config{URL: url, TLS: redis.TLS{CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey}})
		if err != nil {
			t.Fatalf("New(%s) = %v; want a degraded tier", url, err)
		}
		if got := tier.Status(); got != "degraded" {
			t.Errorf("New(%s): Status = %q; want degraded", url, got)
		}
		tier.Close()
	}
}
