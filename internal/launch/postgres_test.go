package launch

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartPostgres(t *testing.T) {
	dir, err := os.MkdirTemp("", "launch-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	begin := time.Now()
	p, err := StartPostgres(dir)
	if err != nil {
		t.Fatalf("StartPostgres: got %v; want nil", err)
	}
	t.Cleanup(p.Stop)
	t.Logf("PostgreSQL started in %v", time.Since(begin))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		t.Fatalf("Connect %s: got %v; want nil", p.URL(), err)
	}
	var db, role, fsync, encoding string
	err = conn.QueryRow(ctx, "SELECT current_database(), current_user, current_setting('fsync'), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").
		Scan(&db, &role, &fsync, &encoding)
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join([]string{db, role, fsync, encoding}, " "), "tiercache tiercache on UTF8"; got != want {
		t.Errorf("database, user, fsync, encoding: got %s; want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres.log")); err != nil {
		t.Errorf("server log: %v", err)
	}

	pid := p.Pid()
	if pid <= 0 {
		t.Fatalf("Pid: got %d; want > 0", pid)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses root, so it must run as postgres.
		fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
		pgUser, lookupErr := user.Lookup("postgres")
		if err != nil || lookupErr != nil {
			t.Fatal(err, lookupErr)
		}
		if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); got != pgUser.Uid {
			t.Errorf("server uid: got %s; want postgres' %s", got, pgUser.Uid)
		}
	}

	p.Stop()
	if got := p.Pid(); got != 0 {
		t.Errorf("Pid after Stop: got %d; want 0", got)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to the stopped server: got %v; want %v", err, syscall.ESRCH)
	}
	p.Stop() // a second Stop does nothing
}

// As root the server runs as postgres, which cannot pass through a private
// parent such as t.TempDir's: StartPostgres says so before it runs initdb.
func TestCheckSearchable(t *testing.T) {
	other := &syscall.Credential{Uid: 54321, Gid: 54321} // owns nothing here
	private := t.TempDir()                               // its parent is 0700
	err := checkSearchable(private, "other", other)
	if err == nil || !strings.Contains(err.Error(), filepath.Dir(private)) {
		t.Errorf("under t.TempDir's parent: got %v; want an error naming %s", err, filepath.Dir(private))
	}
	fresh, err := os.MkdirTemp("", "launch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(fresh)
	if err := checkSearchable(fresh, "other", other); err != nil {
		t.Errorf("under os.TempDir: got %v; want nil", err)
	}
}

func TestFindPostgres(t *testing.T) {
	fake := func(dir string) {
		t.Helper()
		for _, name := range []string{"initdb", "postgres"} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	root := t.TempDir()
	t.Setenv("PATH", "")
	glob := filepath.Join(root, "*", "bin")
	if _, _, err := findPostgres(glob); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("nothing installed: got %v; want %v with the install hint", err, ErrNotInstalled)
	}
	for _, v := range []string{"9.6", "15", "10"} {
		fake(filepath.Join(root, v, "bin"))
	}
	initdb, server, err := findPostgres(glob)
	if want := filepath.Join(root, "15", "bin"); err != nil || filepath.Dir(initdb) != want || filepath.Dir(server) != want {
		t.Errorf("got %s, %s, %v; want the binaries in %s", initdb, server, err, want)
	}
}
