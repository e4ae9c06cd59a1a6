// Package redact hides the secrets of connection URLs (Redis, PostgreSQL,
// store specs) before they reach a log line or an error message.
//
// The rule, applied by URL:
//   - the password of the userinfo (scheme://user:PASSWORD@host) becomes
//     "xxxxx", as url.URL.Redacted does; the user name stays, since it is
//     needed to diagnose a refused login and is not a secret on its own;
//   - the value of every query parameter whose name, in any case, contains
//     "pass", "pwd", "secret", "token", "key" or "auth" becomes "xxxxx":
//     password and sslpassword, sslkey (the path of a private key),
//     api_key, access_token, auth_token. Certificates (sslcert, sslrootcert)
//     are public and stay, as do all other parameters;
//   - a string that does not parse as a URL is never echoed whole:
//     everything up to its last "@" becomes "xxxxx@", and everything from
//     the first "?" or "#" after that becomes "?xxxxx"; the scheme stays.
//
// Strings with nothing to hide ("memory", "bolt:./data/tiercache.db",
// "redis://127.0.0.1:6379") come back unchanged. URL is safe for
// concurrent use.
package redact
