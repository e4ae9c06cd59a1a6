package launch

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresInstallHint tells how to get PostgreSQL.
const PostgresInstallHint = "PostgreSQL (initdb, postgres) not found in PATH or " + postgresBinGlob +
	"; install it (Debian: apt-get install postgresql) or run `make test`, which does"

// postgresBinGlob is where Debian's packages put the server binaries, one
// directory per major version, outside PATH.
const postgresBinGlob = "/usr/lib/postgresql/*/bin"

// Postgres is one PostgreSQL server with a fresh cluster, listening on a
// loopback port. Its superuser is tiercache, which logs in without a
// password (trust), and it has an empty database tiercache.
type Postgres struct {
	port int

	mu   sync.Mutex // guards cmd
	cmd  *exec.Cmd  // nil once stopped
	done chan struct{}
}

// StartPostgres creates a cluster in dir/data (initdb: UTF8, trust, superuser
// tiercache), starts the server on a free loopback port with its unix socket
// in dir, its log in dir/postgres.log and fsync on, creates the database
// tiercache, and returns once that accepts connections (at most 30s). dir
// must exist and have no data/ in it.
//
// PostgreSQL refuses to run as root. As root, StartPostgres therefore runs it
// as the postgres system user and gives dir to that user, and every parent
// of dir must let that user through (search permission). A fresh directory
// from os.MkdirTemp is fine; one from t.TempDir is not, since its parent is
// private (0700): see internal/pgtest.
//
// A missing binary gives an error that wraps ErrNotInstalled.
func StartPostgres(dir string) (*Postgres, error) {
	initdb, server, err := findPostgres(postgresBinGlob)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %s: %w", dir, err)
	}
	dir = abs
	// The kernel limits a socket path to 107 bytes.
	if n := len(filepath.Join(dir, ".s.PGSQL.65535")); n > 107 {
		return nil, fmt.Errorf("cannot start postgres in %s: its socket path would be %d bytes, over the limit of 107", dir, n)
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := checkSearchable(dir, "postgres", cred); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create postgres log: %w", err)
	}
	defer logf.Close() // the server keeps its own copy of the descriptor
	if cred != nil {
		if err := chownTree(dir, "postgres", cred); err != nil {
			return nil, err
		}
	}
	command := func(bin string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir // initdb fails in a working directory it cannot read
		cmd.Stdout, cmd.Stderr = logf, logf
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}

	data := filepath.Join(dir, "data")
	if err := command(initdb, "-D", data, "-U", "tiercache", "-A", "trust", "-E", "UTF8", "--locale=C").Run(); err != nil {
		return nil, fmt.Errorf("cannot initdb %s: %w; see %s", data, err, logPath)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("cannot find a free port: %w", err)
	}
	cmd := command(server, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir, "-c", "fsync=on")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start postgres: %w", err)
	}
	p := &Postgres{port: port, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	if err := p.createDatabase(30*time.Second, logPath); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// URL is the URL of the database tiercache, as user tiercache.
func (p *Postgres) URL() string { return p.url("tiercache") }

func (p *Postgres) url(db string) string {
	return fmt.Sprintf("postgres://tiercache@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// Pid is the process id of the server (the postmaster), 0 once stopped.
func (p *Postgres) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop shuts the server down by its pid: SIGINT (fast shutdown: it rolls
// back open transactions and closes connections), then SIGKILL if it is still
// running 10s later. It returns once the process has exited. Stopping a
// stopped server does nothing; Stop is safe for concurrent use.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	Terminate(p.cmd.Process, syscall.SIGINT, p.done)
	p.cmd = nil
}

// createDatabase waits until the server accepts connections, for at most
// timeout, and creates the database tiercache.
func (p *Postgres) createDatabase(timeout time.Duration, logPath string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, p.url("postgres"))
		if err == nil {
			_, err = conn.Exec(ctx, "CREATE DATABASE tiercache")
			_ = conn.Close(ctx)
			if err != nil {
				return fmt.Errorf("cannot create database tiercache: %w", err)
			}
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres on port %d exited at start-up; see %s", p.port, logPath)
		case <-ctx.Done():
			return fmt.Errorf("postgres on port %d did not accept connections within %v: %w; see %s", p.port, timeout, err, logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findPostgres returns the paths of initdb and postgres: from PATH, or else
// from the directory that glob matches with the highest version.
func findPostgres(glob string) (initdb, server string, err error) {
	initdb, err1 := exec.LookPath("initdb")
	server, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return initdb, server, nil
	}
	dirs, _ := filepath.Glob(glob) // the only error is a bad pattern
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64) // 9.6, 10, …, 17
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, dir := range dirs {
		initdb, server = filepath.Join(dir, "initdb"), filepath.Join(dir, "postgres")
		if isExecutable(initdb) && isExecutable(server) {
			return initdb, server, nil
		}
	}
	return "", "", fmt.Errorf("%s: %w", PostgresInstallHint, ErrNotInstalled)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// postgresCredential returns nil when this process is not root, and the
// credential of the postgres system user when it is.
func postgresCredential() (*syscall.Credential, error) {
	return runAs("postgres", "PostgreSQL refuses to run as root", "Debian's postgresql package creates it")
}

// runAs returns nil when this process is not root, and the credential of
// the system user name when it is. why and creator go into the error when
// there is no such user.
func runAs(name, why, creator string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%s, and there is no %s user to run it as (%s): %w", why, name, creator, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s has uid %q, gid %q; want numbers", name, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// checkSearchable reports an error if a parent of dir denies cred (user
// name) search permission, which would keep the server out of its own files.
// cred has no supplementary groups: exec.Cmd clears them when it switches
// user.
func checkSearchable(dir, name string, cred *syscall.Credential) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("cannot check access to %s: %w", dir, err)
		}
		mode, st := fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t)
		if mode&0o001 == 0 && (st.Gid != cred.Gid || mode&0o010 == 0) && (st.Uid != cred.Uid || mode&0o100 == 0) {
			return fmt.Errorf("user %s cannot reach %s: %s has mode %v; "+
				"pass a directory whose parents others may search, such as a new one from os.MkdirTemp", name, dir, p, mode)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chownTree gives dir and everything in it to cred, the user name.
func chownTree(dir, name string, cred *syscall.Credential) error {
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("cannot give %s to user %s: %w", dir, name, err)
	}
	return nil
}
