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
	"time"

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

// Cluster is a six-node Redis Cluster; see launch.Cluster.
type Cluster struct {
	*launch.Cluster
	tb testing.TB
}

// StartCluster starts a Redis Cluster of three masters and three
// replicas on free loopback ports and stops it when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := launch.StartCluster(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return &Cluster{Cluster: c, tb: tb}
}

// Masters returns the nodes that serve slots now.
func (c *Cluster) Masters() []*launch.Redis {
	c.tb.Helper()
	ms, err := c.Cluster.Masters()
	if err != nil {
		c.tb.Fatal(err)
	}
	return ms
}

// MasterOf returns the master that serves key now.
func (c *Cluster) MasterOf(key string) *launch.Redis {
	c.tb.Helper()
	m, err := c.Cluster.MasterOf(key)
	if err != nil {
		c.tb.Fatal(err)
	}
	return m
}

// WaitOK waits until the cluster is ok again (at most 30s).
func (c *Cluster) WaitOK() {
	c.tb.Helper()
	if err := c.Cluster.WaitOK(30 * time.Second); err != nil {
		c.tb.Fatal(err)
	}
}

// WaitFailover waits until a replica of master serves master's slots (at
// most 30s) and returns it.
func (c *Cluster) WaitFailover(master *launch.Redis) *launch.Redis {
	c.tb.Helper()
	r, err := c.Cluster.WaitFailover(master, 30*time.Second)
	if err != nil {
		c.tb.Fatal(err)
	}
	return r
}
