package users

import (
	"context"
	"errors"

	"github.com/tiercache/tiercache/core"
)

// Errors that callers branch on.
var (
	// ErrNotFound means the store has no user of that name. It is
	// core.ErrNotFound, so a Cache read and a store call agree.
	ErrNotFound = core.ErrNotFound
	// ErrExists means a registration named a user that already exists.
	ErrExists = errors.New("user already exists")
)

// Store is the source of truth for users. Every method honours ctx's
// deadline. Implementations are safe for concurrent use; package userstest
// holds the suite that each runs.
//
// The write methods return the version that the store gave the write (see
// User.Version). When they return a nil error the write is durable.
type Store interface {
	// Get returns the user with its current version. For a name with no
	// user it returns ErrNotFound together with a User whose Version
	// orders the miss among the writes of that name, as core.Loader
	// requires of a "not found".
	Get(ctx context.Context, name string) (User, error)
	// Create adds u (its Version is ignored) atomically, or returns
	// ErrExists and changes nothing.
	Create(ctx context.Context, u User) (version uint64, err error)
	// Update replaces the email of an existing user, or returns ErrNotFound.
	Update(ctx context.Context, u User) (version uint64, err error)
	// Delete removes a user, or returns ErrNotFound.
	Delete(ctx context.Context, name string) (version uint64, err error)
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	// Close releases the store; calls after Close fail.
	Close() error
}

// Loader adapts a Store to core.Loader: the value of a user is its
// AppendJSON.
func Loader(s Store) core.Loader { return loader{s} }

type loader struct{ s Store }

func (l loader) Load(ctx context.Context, name string) ([]byte, uint64, error) {
	u, err := l.s.Get(ctx, name)
	if err != nil {
		return nil, u.Version, err
	}
	return u.AppendJSON(nil), u.Version, nil
}

func (l loader) Ping(ctx context.Context) error { return l.s.Ping(ctx) }
