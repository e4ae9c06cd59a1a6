// Package pgtest starts real PostgreSQL servers for tests and gives each test
// its own database on them.
//
// A server costs about a second to start (initdb), so a package's tests
// share one through Shared, and each test isolates itself with NewDatabase.
// A missing PostgreSQL fails the test with an install hint; it never skips,
// because a skip would hide a missing install step.
//
// Servers live in new directories under os.TempDir, not in t.TempDir: as
// root the server runs as the postgres user (see launch.StartPostgres), and
// t.TempDir's parent is private to root.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tiercache/tiercache/internal/launch"
)

// Start starts a PostgreSQL server and stops it, deleting its files, when
// the test ends.
func Start(tb testing.TB) *launch.Postgres {
	tb.Helper()
	pg, stop, err := start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return pg
}

// Shared is one PostgreSQL server for all the tests of a package, started by
// the first test that asks for it. Declare it as a package variable and stop
// it in TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Stop()
//		os.Exit(code)
//	}
type Shared struct {
	once sync.Once
	pg   *launch.Postgres
	stop func()
	err  error
}

// Start returns the shared server, starting it on the first call. If it
// could not start, every caller fails with the reason.
func (s *Shared) Start(tb testing.TB) *launch.Postgres {
	tb.Helper()
	s.once.Do(func() { s.pg, s.stop, s.err = start() })
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s.pg
}

// Stop stops the server, if one was started, and deletes its files. Call
// it after the package's tests have ended.
func (s *Shared) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

// start starts a server in a new directory and returns the function that
// stops it and deletes the directory.
func start() (*launch.Postgres, func(), error) {
	dir, err := os.MkdirTemp("", "tiercache-pg-")
	if err != nil {
		return nil, nil, err
	}
	pg, err := launch.StartPostgres(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return pg, func() {
		pg.Stop()
		_ = os.RemoveAll(dir)
	}, nil
}

// databases numbers the databases that NewDatabase creates, so that tests
// sharing a server never share a database.
var databases atomic.Uint64

// NewDatabase creates an empty database, test_N, on pg and returns its URL.
// The database is not dropped: it goes with the server.
func NewDatabase(tb testing.TB, pg *launch.Postgres) string {
	tb.Helper()
	name := fmt.Sprintf("test_%d", databases.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		tb.Fatalf("cannot connect to %s: %v", pg.URL(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("cannot create database %s: %v", name, err)
	}
	u, err := url.Parse(pg.URL())
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
