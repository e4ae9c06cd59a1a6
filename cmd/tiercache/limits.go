package main

import (
	"log/slog"

	"github.com/valyala/fasthttp"
)

// fdReserve is how many file descriptors -max-conns leaves, by default, for
// everything but client connections: the listener, stdio, Redis (rueidis
// opens 2 to 4 connections, more while reconnecting), the store (a bolt
// file, or a PostgreSQL pool of up to max(4, CPUs) connections), the Go
// runtime's epoll and pipes, and headroom for short-lived files. Half the
// limit, when the limit is below twice this.
const fdReserve = 128

// connLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the connection cap to use, maxConns when set, else one derived from the
// descriptor limit (defaultMaxConns), and the limit now in force; the
// start-up line logs both.
//
// Go itself (since 1.19, syscall's init) raises the soft limit to the hard
// limit less one in every binary on Linux; this takes the last descriptor
// too and, above all, reads the limit in force, which a container runtime,
// systemd's LimitNOFILE or the shell's ulimit -Hn sets. Raising it never
// exceeds the hard limit: only the administrator can grant more.
func connLimit(maxConns int, log *slog.Logger) (int, uint64) {
	soft, hard, err := raiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the file descriptor limit", "err", err, "soft", soft, "hard", hard)
	}
	derived := defaultMaxConns(soft)
	if maxConns <= 0 {
		maxConns = derived
	} else if soft > 0 && uint64(maxConns) > soft-min(soft/2, fdReserve) {
		log.Warn("-max-conns leaves fewer than the reserved descriptors for Redis, the store and files: "+
			"accepting may fail for want of descriptors (the server then closes idle connections and retries)",
			"max_conns", maxConns, "fd_limit", soft, "suggested", derived)
	}
	return maxConns, soft
}

// defaultMaxConns is the default of -max-conns for a soft descriptor limit:
// the limit less fdReserve (or half the limit, when it is small), and at
// most fasthttp's default Concurrency. 0 when the limit is unknown, which
// leaves fasthttp's default.
func defaultMaxConns(limit uint64) int {
	if limit == 0 {
		return 0
	}
	n := limit - min(limit/2, fdReserve)
	return int(min(n, uint64(fasthttp.DefaultConcurrency)))
}
