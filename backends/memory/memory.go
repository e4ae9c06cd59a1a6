package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/tiercache/tiercache/core"
)

var errClosed = errors.New("memory: store closed")

// Store is a core.Store in a map. Its zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	emails map[string]string // by user name
	closed bool
}

var _ core.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{emails: make(map[string]string)}
}

// Get returns the user, or core.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.User{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return core.User{}, errClosed
	}
	email, ok := s.emails[name]
	if !ok {
		return core.User{}, core.ErrNotFound
	}
	return core.User{Name: name, Email: email}, nil
}

// Create adds u, or returns core.ErrExists.
func (s *Store) Create(ctx context.Context, u core.User) error {
	return s.write(ctx, func() error {
		if _, ok := s.emails[u.Name]; ok {
			return core.ErrExists
		}
		s.emails[u.Name] = u.Email
		return nil
	})
}

// Update replaces the email of an existing user, or returns core.ErrNotFound.
func (s *Store) Update(ctx context.Context, u core.User) error {
	return s.write(ctx, func() error {
		if _, ok := s.emails[u.Name]; !ok {
			return core.ErrNotFound
		}
		s.emails[u.Name] = u.Email
		return nil
	})
}

// Delete removes a user, or returns core.ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.write(ctx, func() error {
		if _, ok := s.emails[name]; !ok {
			return core.ErrNotFound
		}
		delete(s.emails, name)
		return nil
	})
}

// write runs f under the write lock, unless ctx has ended or s is closed.
func (s *Store) write(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
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
	s.emails = nil
	return nil
}
