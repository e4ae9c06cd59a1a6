// Package redistest starts real redis-server processes for tests and
// benchmarks, each on its own free loopback port, and stops them when the
// test ends.
//
// miniredis cannot stand in: it has no CLIENT TRACKING, which the L2 tier
// depends on. A missing redis-server binary fails the test with an install
// hint; it never skips, because a skip would hide a missing install step.
package redistest

import (
	"testing"

	"github.com/tiercache/tiercache/internal/launch"
)

// Server is one redis-server process; see launch.Redis.
type Server struct {
	*launch.Redis
	tb testing.TB
}

// Start starts redis-server on a free loopback port and stops it when the
// test ends. args are more redis-server arguments; see launch.StartRedis.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	r, err := launch.StartRedis(tb.TempDir(), args...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Stop)
	return &Server{Redis: r, tb: tb}
}

// Restart stops the server and starts a new, empty one on the same port.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.Redis.Restart(); err != nil {
		s.tb.Fatal(err)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) { return launch.FreePort() }
