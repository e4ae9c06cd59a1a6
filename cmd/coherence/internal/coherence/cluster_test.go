package coherence

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
)

// TestRedisRestartShutsDown: the redis-restart fault is SHUTDOWN NOSAVE,
// then an empty server on the same port; a server that does not exit is
// SIGKILLed after 5 s.
func TestRedisRestartShutsDown(t *testing.T) {
	t.Parallel()
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		r, err := launch.StartRedis(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
		if _, err := r.Do("SET", "k", "v"); err != nil {
			t.Fatal(err)
		}
		addr, pid := r.Addr, r.Pid()
		if err := r.Restart(); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if r.Addr != addr || r.Pid() == pid {
			t.Errorf("got %s pid %d; want a new process on %s", r.Addr, r.Pid(), addr)
		}
		if n, err := r.Do("DBSIZE"); err != nil || n != "0" {
			t.Errorf("DBSIZE = %q, %v; want an empty server", n, err)
		}
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		if !strings.Contains(string(log), "User requested shutdown") {
			t.Errorf("redis.log has no SHUTDOWN:\n%s", log)
		}
	})
	t.Run("a paused server is killed", func(t *testing.T) {
		t.Parallel()
		r, err := launch.StartRedis(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
		r.Pause()
		start := time.Now()
		if err := r.Restart(); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if d := time.Since(start); d < 5*time.Second || d > 15*time.Second {
			t.Errorf("Restart took %v; want the 5 s wait, then SIGKILL", d)
		}
		if _, err := r.Do("PING"); err != nil {
			t.Errorf("PING after Restart: %v", err)
		}
	})
}

// Proxy mode runs on one Redis: on a Redis Cluster it starts nothing.
func TestStartClusterProxyNeedsOneRedis(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := StartCluster(context.Background(), dir, "/nonexistent/tiercache", 3, true, ModeProxy, io.Discard)
	if !errors.Is(err, errProxyCluster) {
		t.Fatalf("got %v; want errProxyCluster", err)
	}
	if c.RC != nil || c.Redis != nil || c.PG != nil || c.origin != nil || len(c.instances) > 0 {
		t.Errorf("got %+v; want nothing started", c)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("run directory holds %d entries; want none", len(ents))
	}
}
