package redis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/rueidis"
)

// parseURL is rueidis.ParseURL with errors that never carry the URL's
// secrets (url.Parse's error quotes the whole URL), and that refuse the
// options under which Redis would not track keys for this client: with
// them L1 would serve stale values until its TTL. In rueidis v1.0.79 these
// are protocol=2 (AlwaysRESP2: no RESP3, so no invalidation pushes) and
// client_cache=0 (DisableCache: no CLIENT TRACKING); every other URL
// option leaves tracking on.
func parseURL(raw string) (rueidis.ClientOption, error) {
	opt, err := rueidis.ParseURL(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		} else {
			err = errors.New(strings.TrimPrefix(err.Error(), "redis: "))
		}
		return opt, fmt.Errorf("redis: invalid URL %q: %w (want redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path)",
			redact(raw), err)
	}
	switch {
	case opt.AlwaysRESP2:
		return opt, fmt.Errorf("redis: invalid URL %q: protocol=2 turns off the RESP3 client tracking that keeps L1 coherent; remove it",
			redact(raw))
	case opt.DisableCache:
		return opt, fmt.Errorf("redis: invalid URL %q: client_cache=0 turns off the client tracking that keeps L1 coherent; remove it",
			redact(raw))
	}
	return opt, nil
}

// refused returns the error that NewClient's err makes a start-up error:
// Redis answered but refused what the tier needs. A Redis that does not
// answer is not one: the tier starts with its breaker open.
//   - ErrNoCache: CLIENT TRACKING failed (renamed or disabled CLIENT
//     command, an ACL user without +client|tracking, a server without
//     RESP3). rueidis' message is several lines; keep Redis' reason.
//   - any other Redis error during the handshake (HELLO, AUTH, SELECT):
//     a wrong password (WRONGPASS), no password given (NOAUTH), a
//     database out of range. Retrying would only fail again. A Redis still
//     loading its data set is the exception: that passes.
//   - errSingleOnCluster: a cluster node that refused CLUSTER SLOTS.
func refused(rawURL string, err error) error {
	if errors.Is(err, errSingleOnCluster) {
		return fmt.Errorf("redis: %s %w", redact(rawURL), err)
	}
	if errors.Is(err, rueidis.ErrNoCache) {
		reason, _, _ := strings.Cut(err.Error(), "\n")
		if i := strings.LastIndex(reason, ": ["); i >= 0 {
			reason = strings.TrimSpace(reason[:i])
		}
		if reason == rueidis.ErrNoCache.Error() {
			reason = "no RESP3"
		}
		return fmt.Errorf("redis: %s refused CLIENT TRACKING, which keeps L1 coherent (%s): allow it (ACL +client|tracking, no rename-command for CLIENT, Redis 6 or later), or run one instance with -redis off",
			redact(rawURL), reason)
	}
	var rerr *rueidis.RedisError
	if errors.As(err, &rerr) && !rerr.IsLoading() {
		return fmt.Errorf("redis: %s refused the connection: %w", redact(rawURL), err)
	}
	return nil
}
