package core

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// Errors that callers branch on.
var (
	// ErrNotFound means the store has no user of that name.
	ErrNotFound = errors.New("user not found")
	// ErrExists means a registration named a user that already exists.
	ErrExists = errors.New("user already exists")
	// ErrUnavailable means a backend could not be reached in time. For a
	// Shared tier it is returned while its circuit breaker is open.
	ErrUnavailable = errors.New("backend unavailable")
)

// User is one registered user.
type User struct {
	Name  string
	Email string
	// Version orders the writes of one user: the store gives every
	// committed Create, Update and Delete a version greater than any it gave
	// before (across all users, so a name that is deleted and registered
	// again keeps counting up). Versions start at 1; 0 means "no write",
	// like a user that never existed. The caches use it so that a delayed
	// write never replaces a newer one. It is not part of the rendered JSON.
	Version uint64
}

// AppendJSON appends the rendered JSON of u, {"email":…,"username":…}, with
// keys in sorted order and without HTML escaping.
func (u User) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"email":`...)
	dst = AppendJSONString(dst, u.Email)
	dst = append(dst, `,"username":`...)
	dst = AppendJSONString(dst, u.Name)
	return append(dst, '}')
}

// AppendJSONString appends s as a JSON string. Like encoding/json with
// SetEscapeHTML(false): invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Store is the source of truth for users. Every method honours ctx's
// deadline. Implementations are safe for concurrent use.
//
// The write methods return the version that the store gave the write (see
// User.Version). When they return a nil error the write is durable.
type Store interface {
	// Get returns the user with its current version. For a name with no
	// user it returns ErrNotFound together with a User whose Version V
	// orders the miss among the writes of that name: every write of name
	// that Get saw has a version ≤ V, and every write of name that Get did
	// not see gets a version > V. A delete has no record left to carry its
	// version, and the caches must still order a "not found" after it and
	// before a registration that follows. (The store's latest committed
	// version does it when a read sees every committed write; a version
	// taken by a write not yet committed does not.)
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

// Tier is one level of cache holding byte values under string keys.
//
// A miss is ok=false with a nil error. Get's result is owned by the tier and
// must not be modified. Set and Del return once later Gets of this process
// cannot see the previous value: Get then returns the new value or a miss,
// never an older value. Implementations are safe for concurrent use.
type Tier interface {
	Get(ctx context.Context, key string) (val []byte, ok bool, err error)
	// Set stores a copy of val under key for ttl (> 0), replacing any value.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Del(ctx context.Context, key string) error
}

// Shared is the tier that all instances share (L2). Besides Tier's rules:
// it reports every change of a key that this process read through it to the
// Invalidator it was built with, and its writes return only after this
// process has processed the invalidation that the write caused.
type Shared interface {
	Tier
	// SetVersion stores val under key for ttl unless key holds a value
	// stored with a version ≥ version, atomically; it reports whether it
	// stored. A value stored by Tier.Set has version 0. Writes that reach
	// L2 out of order (two writers, a delayed retry, a fill that loaded
	// before a write) thus leave the newest value in place.
	SetVersion(ctx context.Context, key string, val []byte, version uint64, ttl time.Duration) (bool, error)
	// Status is "ok" while the tier serves and "degraded" while it is
	// unreachable (its breaker is open).
	Status() string
}

// Invalidator receives the invalidation feed of a Shared tier. Invalidate
// must not block and must not call back into the tier; keys == nil means
// every key (FLUSHALL, lost connection, recovery).
type Invalidator interface {
	Invalidate(keys []string)
}
