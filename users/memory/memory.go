package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
)

var errClosed = errors.New("memory: store closed")

// Store is a users.Store in a map. Its zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	users   map[string]entry // by user name
	version uint64           // the last version given, across all users
	closed  bool
}

// entry is the stored state of one user.
type entry struct {
	email   string
	version uint64
}

var _ users.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{users: make(map[string]entry)}
}

// Get returns the user with the version of its last write, or
// core.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (users.User, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return users.User{}, errClosed
	}
	e, ok := s.users[name]
	if !ok {
		return users.User{Version: s.version}, core.ErrNotFound
	}
	return users.User{Name: name, Email: e.email, Version: e.version}, nil
}

// Create adds u and returns its version, or returns users.ErrExists.
func (s *Store) Create(ctx context.Context, u users.User) (uint64, error) {
	return s.write(ctx, func() (uint64, error) {
		if _, ok := s.users[u.Name]; ok {
			return 0, users.ErrExists
		}
		v := s.nextVersion()
		s.users[u.Name] = entry{email: u.Email, version: v}
		return v, nil
	})
}

// Update replaces the email of an existing user and returns the new version,
// or returns core.ErrNotFound.
func (s *Store) Update(ctx context.Context, u users.User) (uint64, error) {
	return s.write(ctx, func() (uint64, error) {
		if _, ok := s.users[u.Name]; !ok {
			return 0, core.ErrNotFound
		}
		v := s.nextVersion()
		s.users[u.Name] = entry{email: u.Email, version: v}
		return v, nil
	})
}

// Delete removes a user and returns the version of the removal, or returns
// core.ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) (uint64, error) {
	return s.write(ctx, func() (uint64, error) {
		if _, ok := s.users[name]; !ok {
			return 0, core.ErrNotFound
		}
		delete(s.users, name)
		return s.nextVersion(), nil
	})
}

// nextVersion returns a version greater than any given before. The caller
// holds the write lock.
func (s *Store) nextVersion() uint64 {
	s.version++
	return s.version
}

// write runs f under the write lock, unless ctx has ended or s is closed.
func (s *Store) write(ctx context.Context, f func() (uint64, error)) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	return f()
}

// Ping fails once s is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close drops the users; later calls fail. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.users = nil
	return nil
}
