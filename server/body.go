package server

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"unicode/utf8"

	"github.com/tiercache/tiercache/users"
)

// The 400 messages of docs/api.md; an unknown key gets "Unknown field '<key>'.".
const (
	msgMalformed       = "Malformed JSON body."
	msgMissingUsername = "Missing 'username' field."
	msgMissingEmail    = "Missing 'email' field."
	msgInvalidUsername = "Invalid 'username' field."
	msgInvalidEmail    = "Invalid 'email' field."
)

// Limits of docs/api.md.
const (
	maxNameLen  = 64
	maxEmailLen = 254
)

// validName reports whether s is a possible username: 1-64 characters from
// A-Z a-z 0-9 . _ -, except "." and "..", which are dot-segments: clients
// remove them from a URL path, so /user/.. could not reach such a user.
// Every valid name is safe in a JSON string and a URL path without escaping.
func validName[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > maxNameLen || string(s) == "." || string(s) == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return false
		}
	}
	return true
}

// nameByte reports whether c may be in a name.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// validEmail reports whether s is a bare address that net/mail accepts, of
// at most 254 bytes. "Kiran <k@example.com>" parses but is not bare.
func validEmail(s string) bool {
	if len(s) == 0 || len(s) > maxEmailLen {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// isJSONContentType reports whether a Content-Type names application/json
// or application/*+json, in any case, with any parameters.
func isJSONContentType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.Trim(ct, " \t")
	const app, suffix = "application/", "+json"
	if len(ct) <= len(app) || !bytes.EqualFold(ct[:len(app)], []byte(app)) {
		return false
	}
	sub := ct[len(app):]
	if bytes.EqualFold(sub, []byte("json")) {
		return true
	}
	n := len(sub) - len(suffix)
	return n > 0 && bytes.EqualFold(sub[n:], []byte(suffix)) && isToken(sub[:n])
}

// isToken reports whether b is an RFC 9110 token.
func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// parseUser parses the body of a register (name == "") or an update of the
// user name. It returns the user, or the message of the 400 answer. One UTF-8
// byte order mark before the JSON text is ignored, as RFC 8259 section 8.1
// allows.
//
// Precedence, first match wins:
//
//  1. not exactly one JSON value (invalid, empty, trailing data), or text
//     that is not UTF-8 (invalid bytes, or a \u escape of a lone
//     surrogate, which encoding/json would silently turn into U+FFFD):
//     malformed;
//  2. not an object: the first missing field (username, or email for an
//     update);
//  3. a key twice: malformed;
//  4. a key other than username and email: unknown field, the first one in
//     document order;
//  5. missing username (register only), then missing email;
//  6. invalid username: not a valid name, or for an update not name;
//  7. invalid email.
//
// Keys match exactly: "USERNAME" is an unknown field.
func parseUser(body []byte, name string) (users.User, string) {
	update := name != ""
	missingFirst := msgMissingUsername
	if update {
		missingFirst = msgMissingEmail
	}
	body = bytes.TrimPrefix(body, utf8BOM)
	if !json.Valid(body) || !isUTF8JSON(body) {
		return users.User{}, msgMalformed
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); b[0] != '{' {
		return users.User{}, missingFirst
	}

	// body is one valid object, so the decoder below cannot fail; it is
	// checked anyway, since a parser bug must not become a 500.
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return users.User{}, msgMalformed
	}
	var (
		seen             = make(map[string]struct{}, 2)
		unknown          string
		hasUnknown       bool
		nameRaw, mailRaw json.RawMessage
	)
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return users.User{}, msgMalformed
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return users.User{}, msgMalformed
		}
		if _, dup := seen[key]; dup {
			return users.User{}, msgMalformed
		}
		seen[key] = struct{}{}
		switch key {
		case "username":
			nameRaw = raw
		case "email":
			mailRaw = raw
		default:
			if !hasUnknown {
				unknown, hasUnknown = key, true
			}
		}
	}
	switch {
	case hasUnknown:
		return users.User{}, "Unknown field '" + unknown + "'."
	case nameRaw == nil && !update:
		return users.User{}, msgMissingUsername
	case mailRaw == nil:
		return users.User{}, msgMissingEmail
	}

	var u users.User
	if nameRaw != nil {
		n, ok := jsonString(nameRaw)
		if !ok || !validName(n) || update && n != name {
			return users.User{}, msgInvalidUsername
		}
		u.Name = n
	}
	if update {
		u.Name = name
	}
	e, ok := jsonString(mailRaw)
	if !ok || !validEmail(e) {
		return users.User{}, msgInvalidEmail
	}
	u.Email = e
	return u, ""
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// utf8BOM is the byte order mark some Windows tools write before JSON.
var utf8BOM = []byte("\ufeff")

// isUTF8JSON reports whether body, a valid JSON text, is UTF-8 and escapes
// no lone surrogate: every \uD800-\uDBFF escape is followed by a
// \uDC00-\uDFFF one, and no \uDC00-\uDFFF escape stands alone. Such text
// decodes to exactly what was sent; encoding/json would replace the bad
// parts with U+FFFD and store a different email than the client's.
func isUTF8JSON(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	// Escapes occur only inside strings, and in valid JSON a backslash
	// occurs only in an escape, so a scan of escapes needs no string state.
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++ // body[i] is the escaped character; valid JSON has one
		if body[i] != 'u' {
			continue
		}
		r := hex4(body[i+1 : i+5])
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate with no high one before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
				return false
			}
			if lo := hex4(body[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 decodes four hex digits, which json.Valid has checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
