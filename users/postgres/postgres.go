package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
)

var errClosed = errors.New("postgres: store closed")

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// QueryTimeout bounds each call of the Store, and Open's schema set-up,
	// when the caller's ctx has no earlier deadline. Default 2s: a call that
	// takes longer is better failed than left holding a connection and, for
	// a write, its name's lock.
	QueryTimeout time.Duration
}

// Store is a users.Store in a PostgreSQL database. Its zero value is not
// usable; call Open.
type Store struct {
	pool      *pgxpool.Pool
	timeout   time.Duration
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ users.Store = (*Store)(nil)

// schemaLock keys the advisory lock around the schema DDL. It uses the
// two-key form, a key space apart from the one-key locks of the writes.
const schemaLock = "SELECT pg_advisory_xact_lock(7349, 1)"

// schema is idempotent; see "Schema" in the package doc.
const schema = `
CREATE SEQUENCE IF NOT EXISTS tiercache_versions;
CREATE TABLE IF NOT EXISTS tiercache_users (
	username text PRIMARY KEY,
	email    text NOT NULL,
	version  bigint NOT NULL
)`

// Open connects to the database at url, a postgres:// or postgresql:// URL
// or a key=value string, and creates the schema if it is missing. It fails
// if the database cannot be reached before ctx or Config.QueryTimeout ends.
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	if cfg.QueryTimeout < 0 {
		return nil, fmt.Errorf("postgres: QueryTimeout %v is negative", cfg.QueryTimeout)
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 2 * time.Second
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot parse URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot open pool: %w", err)
	}
	s := &Store{pool: pool, timeout: cfg.QueryTimeout}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, schemaLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot create schema: %w", err)
	}
	return s, nil
}

// Get returns the user with the version of its last write, or
// core.ErrNotFound with the latest version given. It waits for a write of
// name that is in flight; see "Versions" in the package doc.
func (s *Store) Get(ctx context.Context, name string) (users.User, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return users.User{}, err
	}
	defer cancel()
	// One round trip and one implicit transaction, which holds the lock
	// until the read is done.
	var b pgx.Batch
	b.Queue("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", name)
	b.Queue(`SELECT u.email, u.version, CASE WHEN s.is_called THEN s.last_value ELSE 0 END
		FROM tiercache_versions s LEFT JOIN tiercache_users u ON u.username = $1`, name)
	br := s.pool.SendBatch(ctx, &b)
	var email *string
	var version *uint64
	var last uint64
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&email, &version, &last)
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	switch {
	case err != nil:
		return users.User{}, fmt.Errorf("postgres: cannot get %q: %w", name, err)
	case email == nil:
		return users.User{Version: last}, core.ErrNotFound
	}
	return users.User{Name: name, Email: *email, Version: *version}, nil
}

// Create adds u, or returns users.ErrExists. A taken name is not an error
// for PostgreSQL (ON CONFLICT DO NOTHING), so that a busy registration
// endpoint does not fill the server's log with unique violations.
func (s *Store) Create(ctx context.Context, u users.User) (uint64, error) {
	return s.write(ctx, "create", u.Name, users.ErrExists,
		"INSERT INTO tiercache_users (username, email, version) VALUES ($1, $2, nextval('tiercache_versions')) "+
			"ON CONFLICT (username) DO NOTHING RETURNING version",
		u.Name, u.Email)
}

// Update replaces the email of an existing user, or returns core.ErrNotFound.
func (s *Store) Update(ctx context.Context, u users.User) (uint64, error) {
	return s.write(ctx, "update", u.Name, core.ErrNotFound,
		"UPDATE tiercache_users SET email = $2, version = nextval('tiercache_versions') WHERE username = $1 RETURNING version",
		u.Name, u.Email)
}

// Delete removes a user, or returns core.ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) (uint64, error) {
	return s.write(ctx, "delete", name, core.ErrNotFound,
		"DELETE FROM tiercache_users WHERE username = $1 RETURNING nextval('tiercache_versions')",
		name)
}

// write runs the lock of name (see "Versions" in the package doc) and
// query, which returns the write's version, as one batch: one round trip
// and one implicit transaction. No row means noRow; a duplicate key,
// users.ErrExists.
func (s *Store) write(ctx context.Context, op, name string, noRow error, query string, args ...any) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	// The deadline, not the caller's cancellation: see "Durability".
	deadline, _ := ctx.Deadline()
	ctx, cancelDetached := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancelDetached()
	var b pgx.Batch
	b.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)
	b.Queue(query, args...)
	br := s.pool.SendBatch(ctx, &b)
	var version uint64
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&version)
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return version, nil
	case errors.Is(err, pgx.ErrNoRows):
		return 0, noRow
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return 0, users.ErrExists
	}
	return 0, fmt.Errorf("postgres: cannot %s %q: %w", op, name, err)
}

// Ping runs SELECT 1.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.pool.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("postgres: cannot ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Later calls fail; a second Close does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// begin starts a call: it fails if ctx has ended or s is closed, and
// otherwise returns ctx bounded by the query timeout.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.closed.Load() {
		return nil, nil, errClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return ctx, cancel, nil
}
