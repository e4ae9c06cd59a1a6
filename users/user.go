package users

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
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
// under it. A larger value is not served or kept (see Valid).
const MaxBodyBytes = 4 << 10

// AppendJSON appends the rendered JSON of u, {"email":…,"username":…}, with
// keys in sorted order and without HTML escaping. It is the value that the
// caches hold for u.
func (u User) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"email":`...)
	dst = AppendJSONString(dst, u.Email)
	dst = append(dst, `,"username":`...)
	dst = AppendJSONString(dst, u.Name)
	return append(dst, '}')
}

// Valid reports whether v, read from L2 under name, is a value that the
// user cache stores there: byte for byte the AppendJSON of a user called
// name, at most MaxBodyBytes long. A value set by hand or by another
// program fails, so it is never served under another user's name, as a
// body that is not JSON, or at any size. It is core.Config.Validate.
func Valid(name string, v []byte) bool {
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
