package coherence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tiercache/tiercache/internal/launch"
)

// Cluster is the system under test: one redis-server, one PostgreSQL and
// several tiercache processes on loopback ports, all started by the
// checker and stopped by their pids.
type Cluster struct {
	Dir   string
	Redis *launch.Redis
	PG    *launch.Postgres

	bin       string
	instances []*instance
	stopOnce  sync.Once
}

// instance is one tiercache slot: a port and its flags. A kill -9 ends
// the slot's process; a restart starts a new generation on the same port.
type instance struct {
	slot int
	addr string
	args []string
	logf *os.File

	gen  atomic.Int64 // generation of the process serving, or about to serve, the slot
	mu   sync.Mutex   // guards cmd and done
	cmd  *exec.Cmd    // nil when not running
	done chan struct{}
}

var _ Target = (*Cluster)(nil)

// StartCluster builds tiercache into dir (or uses bin when it is not
// empty), starts redis-server and PostgreSQL with their files in dir, and
// n tiercache instances on them, and returns once every instance is ready.
// On error, whatever was started is stopped.
func StartCluster(ctx context.Context, dir, bin string, n int, progress io.Writer) (c *Cluster, err error) {
	c = &Cluster{Dir: dir, bin: bin}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.bin == "" {
		c.bin = filepath.Join(dir, "tiercache")
		fmt.Fprintf(progress, "building %s\n", c.bin)
		if err := build(ctx, c.bin); err != nil {
			return c, err
		}
	}
	for _, sub := range []string{"redis", "pg"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return c, fmt.Errorf("cannot create %s: %w", sub, err)
		}
	}
	if c.Redis, err = launch.StartRedis(filepath.Join(dir, "redis")); err != nil {
		return c, fmt.Errorf("cannot start redis: %w", err)
	}
	if c.PG, err = launch.StartPostgres(filepath.Join(dir, "pg")); err != nil {
		return c, fmt.Errorf("cannot start postgres: %w", err)
	}
	fmt.Fprintf(progress, "redis-server pid %d on %s; postgres pid %d\n", c.Redis.Pid(), c.Redis.Addr, c.PG.Pid())
	for slot := range n {
		port, err := launch.FreePort()
		if err != nil {
			return c, fmt.Errorf("cannot find a free port: %w", err)
		}
		in := &instance{slot: slot, addr: "127.0.0.1:" + strconv.Itoa(port)}
		in.args = []string{"-listen", in.addr, "-store", c.PG.URL(), "-redis", c.Redis.URL(), "-log-level", "warn"}
		if in.logf, err = os.Create(filepath.Join(dir, fmt.Sprintf("tiercache-%d.log", slot))); err != nil {
			return c, fmt.Errorf("cannot create log: %w", err)
		}
		c.instances = append(c.instances, in)
		if err := c.start(in); err != nil {
			return c, err
		}
		fmt.Fprintf(progress, "tiercache %d pid %d on %s\n", slot, in.pid(), in.addr)
	}
	return c, nil
}

// build compiles ./cmd/tiercache of the module the working directory is in.
func build(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/tiercache")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build tiercache (run the checker from the repository root): %w\n%s", err, b)
	}
	return nil
}

// start starts the slot's process and waits until it serves /healthz.
func (c *Cluster) start(in *instance) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	fmt.Fprintf(in.logf, "=== start generation %d: %s %v\n", in.gen.Load(), c.bin, in.args)
	cmd := exec.Command(c.bin, in.args...)
	cmd.Stdout, cmd.Stderr = in.logf, in.logf
	// If the checker dies without stopping it, the kernel does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start tiercache %d: %w", in.slot, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	in.cmd, in.done = cmd, done
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("http://" + in.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			in.cmd = nil
			return fmt.Errorf("tiercache %d exited at start-up; see %s", in.slot, in.logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tiercache %d did not serve /healthz within 15s; see %s", in.slot, in.logf.Name())
		}
	}
}

func (in *instance) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return 0
	}
	return in.cmd.Process.Pid
}

// stop ends the process by its pid: SIGTERM, then SIGKILL after grace.
func (in *instance) stop(grace time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return
	}
	sig := syscall.SIGTERM
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	_ = in.cmd.Process.Signal(sig)
	select {
	case <-in.done:
	case <-time.After(grace):
		_ = in.cmd.Process.Kill()
		<-in.done
	}
	in.cmd = nil
}

// Addr is the host:port of slot.
func (c *Cluster) Addr(slot int) string { return c.instances[slot].addr }

// Gen is the generation of the process serving slot.
func (c *Cluster) Gen(slot int) int { return int(c.instances[slot].gen.Load()) }

// Instances is the number of tiercache slots.
func (c *Cluster) Instances() int { return len(c.instances) }

// KillInstance SIGKILLs the process of slot and waits for it to die. Later
// requests belong to the next generation: the killed one cannot answer them.
func (c *Cluster) KillInstance(slot int) (int, error) {
	in := c.instances[slot]
	gen := int(in.gen.Load())
	if in.pid() == 0 {
		return gen, fmt.Errorf("tiercache %d is not running", slot)
	}
	fmt.Fprintf(in.logf, "=== kill -9 generation %d (pid %d)\n", gen, in.pid())
	in.stop(0)
	in.gen.Add(1)
	return gen, nil
}

// RestartInstance starts slot again with the same port and flags.
func (c *Cluster) RestartInstance(slot int) error { return c.start(c.instances[slot]) }

// RestartRedis replaces redis-server with an empty one on the same port.
func (c *Cluster) RestartRedis() error { return c.Redis.Restart() }

// PauseRedis stops redis-server with SIGSTOP.
func (c *Cluster) PauseRedis() { c.Redis.Pause() }

// ResumeRedis continues it with SIGCONT.
func (c *Cluster) ResumeRedis() { c.Redis.Resume() }

// RedisDo sends one command to Redis.
func (c *Cluster) RedisDo(args ...string) (string, error) { return c.Redis.Do(args...) }

// Stop stops every process, by pid: the tiercache instances first (SIGTERM,
// SIGKILL after 3s), then Redis and PostgreSQL. It is safe to call more
// than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, in := range c.instances {
			wg.Go(func() { in.stop(3 * time.Second) })
		}
		wg.Wait()
		for _, in := range c.instances {
			_ = in.logf.Close()
		}
		if c.Redis != nil {
			c.Redis.Stop()
		}
		if c.PG != nil {
			c.PG.Stop()
		}
	})
}

// ReadStore reads the final state of keys straight from PostgreSQL.
func (c *Cluster) ReadStore(ctx context.Context, keys []string) (map[string]State, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.PG.URL())
	if err != nil {
		return nil, fmt.Errorf("cannot connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT username, email FROM tiercache_users WHERE username = ANY($1)", keys)
	if err != nil {
		return nil, fmt.Errorf("cannot read users: %w", err)
	}
	states := make(map[string]State, len(keys))
	for _, k := range keys {
		states[k] = State{}
	}
	var name, email string
	_, err = pgx.ForEachRow(rows, []any{&name, &email}, func() error {
		states[name] = State{Exists: true, Email: email}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read users: %w", err)
	}
	return states, nil
}

// WaitRedisOK waits until every instance reports Redis "ok" on /readyz,
// at most timeout.
func (c *Cluster) WaitRedisOK(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for _, in := range c.instances {
		for {
			body, status, err := getBody(ctx, client, "http://"+in.addr+"/readyz")
			if err == nil && status == http.StatusOK && string(body) == `{"redis":"ok","status":"ready","store":"ok"}`+"\n" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("tiercache %d not ready with redis ok after %v: %d %s %v", in.slot, timeout, status, body, err)
			}
			if !sleep(ctx, 50*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return nil
}

func getBody(ctx context.Context, client *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return b, resp.StatusCode, err
}

// errInterrupted is returned when the checker is stopped before it is done.
var errInterrupted = errors.New("interrupted")
