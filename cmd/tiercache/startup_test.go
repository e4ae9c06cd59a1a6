package main

// What a user sees when tiercache cannot start, and its command-line
// usage: the real binary, with real redis-server and PostgreSQL processes.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/internal/tlstest"
	"github.com/tiercache/tiercache/users/bolt"
)

// secret is the password of every bad configuration that carries one; no
// output may show it.
const secret = "s3cretpw"

// result is one run of the binary to its exit.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runBinary runs the built binary with args and env (TIERCACHE_* variables
// of the test's own environment are dropped) in a new directory, and waits
// at most 20s for its exit.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TIERCACHE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("tiercache %q with %q still ran after 20s; stderr:\n%s", args, env, r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// Every configuration that cannot work stops tiercache at start: exit
// status 1 and one line on stderr that says what and why, never a panic,
// never a password.
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked.db")
	startProcess(t, "-store", "bolt:"+locked, "-redis", "off") // holds the lock

	// A Redis that refuses CLIENT TRACKING, and one with an ACL user that
	// may not turn it on.
	renamed := redistest.Start(t, "--rename-command", "CLIENT", "")
	acl := redistest.Start(t)
	if _, err := acl.Do("ACL", "SETUSER", "notrack", "on", ">"+secret, "~*", "+@all", "-client|tracking"); err != nil {
		t.Fatal(err)
	}
	aclHost := strings.TrimPrefix(acl.URL(), "redis://")
	taken := startProcess(t, "-store", "memory", "-redis", "off")
	downPG := "postgres://tiercache:" + secret + "@" + freeAddr(t) + "/users?connect_timeout=1&sslpassword=" + secret
	// A TLS Redis that requires client certificates, another CA, and a
	// "key" whose text is the secret.
	tlsRedis := tlstest.StartRedis(t, true)
	tf, otherCA := tlsRedis.Files, tlstest.NewFiles(t).CA
	tlsHost := strings.TrimPrefix(tlsRedis.TLSURL(), "rediss://")
	badKey := filepath.Join(dir, "bad-key.pem")
	if err := os.WriteFile(badKey, []byte("-----BEGIN PRIVATE KEY-----\n"+secret+"\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string // the line, after "tiercache: "
	}{
		{"unknown store", nil, []string{"-store", "bogus"},
			`invalid -store "bogus": want bolt:PATH, postgres://… or memory`},
		{"unknown store scheme with a password", []string{"TIERCACHE_STORE=mysql://u:" + secret + "@db/x"}, nil,
			`invalid -store "mysql://u:xxxxx@db/x": want bolt:PATH, postgres://… or memory`},
		{"bolt path is a directory", nil, []string{"-store", "bolt:" + dir},
			"bolt: cannot open " + dir + ": open " + dir + ": is a directory"},
		{"bolt file locked by a running instance", nil, []string{"-store", "bolt:" + locked},
			"bolt: cannot open " + locked + ": locked by another Store, in this process or another: timeout"},
		{"PostgreSQL unreachable", []string{"TIERCACHE_STORE=" + downPG}, nil,
			"postgres: cannot connect: failed to connect to `user=tiercache database=users`: "},
		{"Redis URL scheme", nil, []string{"-store", "memory", "-redis", "foo://bar"},
			`redis: invalid URL "foo://bar": invalid URL scheme: foo (want redis://`},
		{"Redis URL without scheme", nil, []string{"-store", "memory", "-redis", "127.0.0.1:6379"},
			`redis: invalid URL "127.0.0.1:6379": first path segment in URL cannot contain colon (want redis://`},
		{"Redis URL port", nil, []string{"-store", "memory", "-redis", "redis://127.0.0.1:notaport"},
			`redis: invalid URL "redis://127.0.0.1:notaport": invalid port ":notaport" after host (want redis://`},
		{"Redis URL unparsable with a password", []string{"TIERCACHE_REDIS_URL=redis://u:" + secret + "@[::1"}, []string{"-store", "memory"},
			`redis: invalid URL "redis://xxxxx@[::1": missing ']' in host (want redis://`},
		{"Redis protocol=2", []string{"TIERCACHE_REDIS_URL=redis://:" + secret + "@" + aclHost + "?protocol=2"}, []string{"-store", "memory"},
			`redis: invalid URL "redis://:xxxxx@` + aclHost + `?protocol=2": protocol=2 turns off the RESP3 client tracking that keeps L1 coherent; remove it`},
		{"Redis client_cache=0", nil, []string{"-store", "memory", "-redis", acl.URL() + "?client_cache=0"},
			`redis: invalid URL "` + acl.URL() + `?client_cache=0": client_cache=0 turns off the client tracking that keeps L1 coherent; remove it`},
		{"Redis CLIENT renamed", nil, []string{"-store", "memory", "-redis", renamed.URL()},
			"redis: " + renamed.URL() + " refused CLIENT TRACKING, which keeps L1 coherent (unknown command 'CLIENT'"},
		{"Redis user without client|tracking", []string{"TIERCACHE_REDIS_URL=redis://notrack:" + secret + "@" + aclHost}, []string{"-store", "memory"},
			"redis: redis://notrack:xxxxx@" + aclHost + " refused CLIENT TRACKING, which keeps L1 coherent (NOPERM this user has no permissions to run the 'client|tracking' command)"},
		{"Redis wrong password", []string{"TIERCACHE_REDIS_URL=redis://notrack:wrong-" + secret + "@" + aclHost}, []string{"-store", "memory"},
			"redis: redis://notrack:xxxxx@" + aclHost + " refused the connection: WRONGPASS invalid username-password pair or user is disabled."},
		{"Redis TLS certificate of another CA", nil, []string{"-store", "memory", "-redis", tlsRedis.TLSURL(), "-redis-tls-ca", otherCA},
			"redis: cannot verify the TLS certificate of " + tlsRedis.TLSURL() + ": x509: certificate signed by unknown authority"},
		{"Redis TLS client certificate required", []string{"TIERCACHE_REDIS_URL=rediss://:" + secret + "@" + tlsHost, "TIERCACHE_REDIS_TLS_CA=" + tf.CA}, []string{"-store", "memory"},
			"redis: rediss://:xxxxx@" + tlsHost + " refused the TLS handshake (remote error: tls: certificate required): it requires a client certificate: give one that its CA signed with -redis-tls-cert and -redis-tls-key"},
		{"Redis TLS certificate without key", []string{"TIERCACHE_REDIS_TLS_CERT=" + tf.ClientCert}, []string{"-store", "memory", "-redis", tlsRedis.TLSURL(), "-redis-tls-ca", tf.CA},
			"redis: TLS client certificate " + tf.ClientCert + " has no key: give both -redis-tls-cert and -redis-tls-key"},
		{"Redis TLS CA unreadable", nil, []string{"-store", "memory", "-redis", tlsRedis.TLSURL(), "-redis-tls-ca", filepath.Join(dir, "none.pem")},
			"redis: cannot read the TLS CA: open " + filepath.Join(dir, "none.pem") + ": no such file or directory"},
		{"Redis TLS key invalid", []string{"TIERCACHE_REDIS_TLS_KEY=" + badKey}, []string{"-store", "memory", "-redis", tlsRedis.TLSURL(), "-redis-tls-ca", tf.CA, "-redis-tls-cert", tf.ClientCert},
			"redis: cannot use TLS client certificate " + tf.ClientCert + " with key " + badKey + ": tls: failed to parse private key"},
		{"Redis skip_verify without -redis-tls-insecure", []string{"TIERCACHE_REDIS_URL=rediss://:" + secret + "@" + tlsHost + "?skip_verify=true"}, []string{"-store", "memory"},
			`redis: invalid URL "rediss://:xxxxx@` + tlsHost + `?skip_verify=true": skip_verify turns off the verification of the server's certificate; give its CA with -redis-tls-ca instead, or add -redis-tls-insecure if you mean it`},
		{"Redis TLS files with redis://", []string{"TIERCACHE_REDIS_TLS_CA=" + tf.CA}, []string{"-store", "memory", "-redis", acl.URL()},
			`redis: TLS files given for "` + acl.URL() + `", a URL without TLS: use rediss://, or drop -redis-tls-ca, -redis-tls-cert and -redis-tls-key`},
		{"L1 too small", []string{"TIERCACHE_L1_BYTES=1KiB"}, []string{"-store", "memory", "-redis", "off"},
			"invalid -l1-bytes 1KiB: ristretto: MaxBytes 1024 leaves"},
		{"L1 too small, otter", nil, []string{"-store", "memory", "-redis", "off", "-l1-backend", "otter", "-l1-bytes", "1KiB"},
			"invalid -l1-bytes 1KiB: otter: MaxBytes 1024 is below the 64 KiB minimum"},
		{"invalid environment value", []string{"TIERCACHE_TTL=1 hour"}, []string{"-store", "memory", "-redis", "off"},
			`invalid TIERCACHE_TTL="1 hour": want a duration such as 50ms, 30s or 1h`},
		{"listen address taken", nil, []string{"-store", "memory", "-redis", "off", "-listen", strings.TrimPrefix(taken.base, "http://")},
			"cannot listen: listen tcp " + strings.TrimPrefix(taken.base, "http://") + ": bind: address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "-listen") {
				args = append([]string{"-listen", freeAddr(t)}, args...)
			}
			r := runBinary(t, tc.env, args...)
			if r.code != 1 {
				t.Errorf("exit status %d; want 1", r.code)
			}
			if !strings.HasPrefix(r.stderr, "tiercache: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("stderr = %q; want one line starting %q", r.stderr, "tiercache: ")
			}
			if !strings.HasPrefix(r.stderr, "tiercache: "+tc.want) {
				t.Errorf("stderr = %q; want it to start %q", r.stderr, "tiercache: "+tc.want)
			}
			for _, bad := range []string{"panic", "goroutine", secret} {
				if strings.Contains(r.stderr+r.stdout, bad) {
					t.Errorf("output shows %q:\n%s%s", bad, r.stdout, r.stderr)
				}
			}
			if r.took > 5*time.Second {
				t.Errorf("took %v to give up; want under 5s", r.took)
			}
		})
	}
}

// A start that fails after the store opened closes the store: the same
// process can open it again at once (bolt's lock is per open file).
func TestFailedStartClosesTheStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	err := run(context.Background(), []string{"-listen", freeAddr(t), "-store", "bolt:" + path, "-redis", "foo://bar"},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "invalid URL") {
		t.Fatalf("run = %v; want the invalid URL error", err)
	}
	s, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatalf("the store after a failed start: %v; want it closed", err)
	}
	s.Close()
}

// Redis merely down at start is not an error (TestStartsWithRedisDown
// serves); a Redis whose password is right serves with L2 ok. The
// start-up log line shows the store and Redis without their passwords,
// wherever in the URL they are.
func TestStartLogHidesPasswords(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	if _, err := srv.Do("CONFIG", "SET", "requirepass", secret); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDatabase(t, pgtest.Start(t))
	sep := "?"
	if strings.Contains(db, "?") {
		sep = "&"
	}
	store := db + sep + "password=" + secret // PostgreSQL trusts loopback in the tests: any password does
	redisURL := "redis://:" + secret + "@" + strings.TrimPrefix(srv.URL(), "redis://")
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-listen", addr)
	cmd.Env = append(os.Environ(), "TIERCACHE_STORE="+store, "TIERCACHE_REDIS_URL="+redisURL)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	waitHealthy(t, "http://"+addr, exited)
	if r := do(t, "GET", "http://"+addr+"/readyz", ""); r.status != 200 || !strings.Contains(r.body, `"redis":"ok"`) {
		t.Fatalf("readyz = %d %s; want redis ok", r.status, r.body)
	}
	out := logs.String()
	if !strings.Contains(out, "password=xxxxx") || !strings.Contains(out, "tiercache serving") {
		t.Errorf("start-up log lacks the redacted store:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("start-up log shows the password:\n%s", out)
	}
}

// -h prints every setting once, durations as the README writes them, on
// stdout, and exits 0. A command line tiercache does not understand gets
// its error once, with a hint and no usage, and exit status 2.
func TestUsage(t *testing.T) {
	t.Parallel()
	r := runBinary(t, nil, "-h")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("-h: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	for _, want := range []string{`-ttl (TIERCACHE_TTL)`, `(default "1h")`, `(default "30s")`, `(default "50ms")`, `(default "1m")`, `(default "64MiB")`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-h output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "0s\"") && strings.Contains(r.stdout, "m0s") {
		t.Errorf("-h output spells out zero minutes or seconds:\n%s", r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "tiercache: flag provided but not defined: -nope (tiercache -h lists the flags)\n"},
		{[]string{"-ttl", "soon"}, "tiercache: invalid value \"soon\" for flag -ttl: want a duration such as 50ms, 30s or 1h (tiercache -h lists the flags)\n"},
		{[]string{"extra"}, "tiercache: unexpected argument \"extra\" (tiercache -h lists the flags)\n"},
	} {
		r := runBinary(t, nil, tc.args...)
		if r.code != 2 || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing, %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", time.Minute: "1m", 30 * time.Second: "30s", 50 * time.Millisecond: "50ms",
		90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 0: "0s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q; want %q", d, got, want)
		}
	}
}
