package redact

import (
	"net/url"
	"strings"
)

// Mask replaces each secret.
const Mask = "xxxxx"

// sensitive are the substrings that make a query parameter's value secret.
var sensitive = []string{"pass", "pwd", "secret", "token", "key", "auth"}

// URL returns s with its secrets replaced by Mask; see the package doc.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return unparsable(s)
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
			changed = true
		}
	}
	if i := strings.LastIndex(u.Opaque, "@"); i >= 0 {
		// scheme:user:pass@host without "//": the part before "@" is
		// userinfo that url.Parse did not recognise.
		u.Opaque = Mask + u.Opaque[i:]
		changed = true
	}
	if q, ok := query(u.RawQuery); ok {
		u.RawQuery = q
		changed = true
	}
	if !changed {
		return s
	}
	return u.String()
}

// query masks the values of sensitive parameters in a raw query, keeping
// their order and encoding; ok reports a change. Both "&" and ";" separate
// parameters, so that a parser that splits on ";" finds no secret either.
func query(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	var b strings.Builder
	changed := false
	for raw != "" {
		part := raw
		sep := ""
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			part, sep, raw = raw[:i], raw[i:i+1], raw[i+1:]
		} else {
			raw = ""
		}
		if key, _, ok := strings.Cut(part, "="); ok && isSensitive(key) {
			part = key + "=" + Mask
			changed = true
		}
		b.WriteString(part)
		b.WriteString(sep)
	}
	return b.String(), changed
}

func isSensitive(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	key = strings.ToLower(key)
	for _, s := range sensitive {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}

// unparsable hides what could be a secret in a string that url.Parse
// refused: its userinfo, which ends at the last "@", and its query.
func unparsable(s string) string {
	prefix, rest := "", s
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		prefix, rest = s[:i+3], s[i+3:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = Mask + rest[i:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + "?" + Mask
	}
	return prefix + rest
}

func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
