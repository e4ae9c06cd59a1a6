package core

import (
	"bytes"
	"context"
	"encoding/json"
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
	// ErrBadValue means a Shared tier holds, under the key asked for,
	// something it did not write (another type, another format, more bytes
	// than any value of its own). The Cache treats it as a value to reject:
	// it answers from the store and replaces it.
	ErrBadValue = errors.New("value not written by this tier")
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

// MaxBodyBytes bounds a rendered user read from L2: the longest valid one,
// a 64-byte name and a 254-byte email with every byte escaped, is well
// under it. A larger value is not served or kept (see Cache.Get).
const MaxBodyBytes = 4 << 10

// AppendJSON appends the rendered JSON of u, {"email":…,"username":…}, with
// keys in sorted order and without HTML escaping.
func (u User) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"email":`...)
	dst = AppendJSONString(dst, u.Email)
	dst = append(dst, `,"username":`...)
	dst = AppendJSONString(dst, u.Name)
	return append(dst, '}')
}

// validBody reports whether v, read from L2 under name, is a user that this
// package stores there: byte for byte the AppendJSON of a user called name,
// at most MaxBodyBytes long. A value set by hand or by another program
// fails, so it is never served under another user's name, as a body that is
// not JSON, or at any size.
func validBody(name string, v []byte) bool {
	const head, mid = `{"email":`, `,"username":`
	if len(v) > MaxBodyBytes || !bytes.HasPrefix(v, []byte(head)) {
		return false
	}
	i := bytes.LastIndex(v, []byte(mid))
	if i < len(head) {
		return false
	}
	var email string
	if json.Unmarshal(v[len(head):i], &email) != nil {
		return false
	}
	// Rendering again rejects what Unmarshal forgave: invalid UTF-8 (made
	// U+FFFD), escapes that AppendJSON does not write, another name.
	var buf [512]byte
	return bytes.Equal(v, User{Name: name, Email: email}.AppendJSON(buf[:0]))
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
// Invalidator it was built with, from the read until at least the first
// change (a miss read through it counts: a "not found" kept in L1 hears of
// the registration that ends it), and its writes return only after this
// process has processed the invalidation that the write caused.
type Shared interface {
	Tier
	// SetVersion stores val under key for ttl unless key holds a value
	// stored with a higher version, or the same version and the same value,
	// atomically. It reports whether it stored and, when it did not, the
	// version that key holds. A value stored by Tier.Set has version 0.
	// Writes that reach L2 out of order (two writers, a delayed retry, a
	// fill that loaded before a write) thus leave the newest value in
	// place. One version with two values cannot come from one store, so
	// the newcomer wins: the held value came from another store that used
	// the same keys, or from a hand.
	SetVersion(ctx context.Context, key string, val []byte, version uint64, ttl time.Duration) (stored bool, held uint64, err error)
	// Replace stores val with version under key for ttl if key holds a value
	// of version held, atomically, and reports whether it stored. It repairs
	// a value whose version no write of the store gave: one set by hand, or
	// left by a store that was recreated or restored from a backup.
	Replace(ctx context.Context, key string, val []byte, version, held uint64, ttl time.Duration) (bool, error)
	// Status is "ok" while the tier serves and "degraded" while it is
	// unreachable (its breaker is open).
	Status() string
}

// RefusalCounter is implemented by a Shared tier that tells refusals apart
// from other failures: calls that its backend answered but would not do (no
// permission, a read-only replica, a cluster that does not serve the key).
// Refused returns how many there were since the tier started; Cache.Stats
// reports it as L2Refused.
type RefusalCounter interface {
	Refused() uint64
}

// LossReporter is implemented by a Shared tier that can lose writes it
// acknowledged, such as a replica promoted before it received them. New
// registers with OnLoss the function that the tier calls whenever writes
// it acknowledged within the last Config.LossWindow may be gone: the Cache
// then republishes the keys it wrote in that window from the store, with
// their versions, through the queue of failed writes. f does not block
// and calls nothing of the tier, so the tier may call it from anywhere,
// its connection readers included, and as often as it likes.
type LossReporter interface {
	OnLoss(f func())
}

// Invalidator receives the invalidation feed of a Shared tier. Invalidate
// must not block and must not call back into the tier; keys == nil means
// every key (FLUSHALL, lost connection, recovery).
type Invalidator interface {
	Invalidate(keys []string)
}
