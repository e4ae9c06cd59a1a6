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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tiercache/tiercache/internal/launch"
)

// Cluster is the system under test: one redis-server (or a 6-node Redis
// Cluster), one PostgreSQL and several tiercache processes on loopback
// ports, all started by the checker and stopped by their pids. In
// ModeProxy the instances are tiercache proxies in front of one origin, a
// tiercache user service without caches on a memory store, and there is
// no PostgreSQL.
type Cluster struct {
	Dir   string
	Redis *launch.Redis // nil on a Redis Cluster
	// RC is the Redis Cluster, nil on one Redis. The instances are given
	// its first node alone, as one seed URL.
	RC *launch.Cluster
	PG *launch.Postgres // nil in ModeProxy

	bin       string
	origin    *instance // ModeProxy's origin; nil otherwise
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
	// probes is the path prefix of /healthz and /readyz; ready is the
	// /readyz body of an instance whose Redis is ok.
	probes, ready string

	gen  atomic.Int64 // generation of the process serving, or about to serve, the slot
	mu   sync.Mutex   // guards cmd and done
	cmd  *exec.Cmd    // nil when not running
	done chan struct{}
}

var _ Target = (*Cluster)(nil)

// StartCluster builds tiercache into dir (or uses bin when it is not
// empty), starts redis-server (a 6-node Redis Cluster when redisCluster is
// true) and PostgreSQL with their files in dir, and n tiercache instances
// on them, and returns once every instance is ready. In ModeProxy it
// starts the origin instead of PostgreSQL, and n proxies in front of it.
// On error, whatever was started is stopped.
func StartCluster(ctx context.Context, dir, bin string, n int, redisCluster bool, mode string, progress io.Writer) (c *Cluster, err error) {
	c = &Cluster{Dir: dir, bin: bin}
	proxy := mode == ModeProxy
	if proxy && redisCluster {
		return c, errProxyCluster
	}
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
	subs := []string{"redis", "pg"}
	if proxy {
		subs = subs[:1]
	}
	for _, sub := range subs {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return c, fmt.Errorf("cannot create %s: %w", sub, err)
		}
	}
	redisURL := ""
	if redisCluster {
		if c.RC, err = launch.StartCluster(filepath.Join(dir, "redis")); err != nil {
			return c, fmt.Errorf("cannot start redis cluster: %w", err)
		}
		redisURL = c.RC.URL()
		for i, node := range c.RC.Nodes {
			fmt.Fprintf(progress, "redis-server cluster node %d pid %d on %s\n", i, node.Pid(), node.Addr)
		}
	} else {
		if c.Redis, err = launch.StartRedis(filepath.Join(dir, "redis")); err != nil {
			return c, fmt.Errorf("cannot start redis: %w", err)
		}
		redisURL = c.Redis.URL()
		fmt.Fprintf(progress, "redis-server pid %d on %s\n", c.Redis.Pid(), c.Redis.Addr)
	}
	if proxy {
		if c.origin, err = c.newInstance(-1, "tiercache-origin.log", nil); err != nil {
			return c, err
		}
		c.origin.args = append(c.origin.args, OriginArgs...)
		if err := c.start(c.origin); err != nil {
			return c, err
		}
		fmt.Fprintf(progress, "origin: tiercache pid %d on %s %v\n", c.origin.pid(), c.origin.addr, OriginArgs)
	} else {
		if c.PG, err = launch.StartPostgres(filepath.Join(dir, "pg")); err != nil {
			return c, fmt.Errorf("cannot start postgres: %w", err)
		}
		fmt.Fprintf(progress, "postgres pid %d; tiercache -redis %s\n", c.PG.Pid(), redisURL)
	}
	for slot := range n {
		var args []string
		if proxy {
			args = append([]string{"proxy", "-origin", "http://" + c.origin.addr, "-redis", redisURL}, ProxyArgs...)
		} else {
			args = []string{"-store", c.PG.URL(), "-redis", redisURL}
		}
		in, err := c.newInstance(slot, fmt.Sprintf("tiercache-%d.log", slot), args)
		if err != nil {
			return c, err
		}
		if proxy {
			in.probes, in.ready = "/_tiercache", `{"redis":"ok","status":"ready"}`+"\n"
		}
		c.instances = append(c.instances, in)
		if err := c.start(in); err != nil {
			return c, err
		}
		what := "tiercache"
		if proxy {
			what = "tiercache proxy"
		}
		fmt.Fprintf(progress, "%s %d pid %d on %s\n", what, slot, in.pid(), in.addr)
	}
	if proxy {
		fmt.Fprintf(progress, "proxies: -redis %s %v\n", redisURL, ProxyArgs)
	}
	return c, nil
}

// OriginArgs are the flags of ModeProxy's origin besides -listen: no L1,
// no L2, so that it always answers its store's state.
var OriginArgs = []string{"-store", "memory", "-redis", "off", "-l1-bytes", "0"}

// ProxyArgs are the flags of ModeProxy's proxies besides -listen, -origin
// and -redis. The default TTL outlives any run, so that only a missed
// invalidation can make a proxy stale; the degraded TTL is the user
// service's default, so that the same bounds apply; the origin timeout is
// the user service's store timeout, so that a live proxy answers every
// write before the checker's clients give up.
var ProxyArgs = []string{"-default-ttl", "1h", "-degraded-ttl", "1s", "-origin-timeout", "2s"}

// errProxyCluster: ModeProxy runs on one Redis only.
var errProxyCluster = errors.New("proxy mode runs on one Redis: -redis cluster is not supported with it")

// newInstance returns a slot on a free loopback port, logging to name in
// the cluster's directory, with args before its -listen.
func (c *Cluster) newInstance(slot int, name string, args []string) (*instance, error) {
	port, err := launch.FreePort()
	if err != nil {
		return nil, fmt.Errorf("cannot find a free port: %w", err)
	}
	in := &instance{slot: slot, addr: "127.0.0.1:" + strconv.Itoa(port),
		ready: `{"redis":"ok","status":"ready","store":"ok"}` + "\n"}
	in.args = append(append(args[:len(args):len(args)], "-listen", in.addr), "-log-level", "warn")
	if in.logf, err = os.Create(filepath.Join(c.Dir, name)); err != nil {
		return nil, fmt.Errorf("cannot create log: %w", err)
	}
	return in, nil
}

// build compiles ./cmd/tiercache of the root module, which the go command
// finds from the working directory: the repository root, or the checker's
// own module (cmd/coherence), which requires the root by a replace.
func build(ctx context.Context, out string) error {
	dir, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/tiercache/tiercache").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		return fmt.Errorf("cannot find the tiercache module (run the checker in the repository): %w\n%s", err, stderr)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/tiercache")
	cmd.Dir = strings.TrimSpace(string(dir))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build tiercache in %s: %w\n%s", cmd.Dir, err, b)
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
		resp, err := client.Get("http://" + in.addr + in.probes + "/healthz")
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

// errOnCluster is the error of a single-Redis fault on a Redis Cluster,
// whose faults go through Nodes.
var errOnCluster = errors.New("not on a Redis Cluster: use its Nodes")

// RestartRedis replaces redis-server with an empty one on the same port.
func (c *Cluster) RestartRedis() error {
	if c.Redis == nil {
		return errOnCluster
	}
	return c.Redis.Restart()
}

// PauseRedis stops redis-server with SIGSTOP; nothing on a Redis Cluster.
func (c *Cluster) PauseRedis() {
	if c.Redis != nil {
		c.Redis.Pause()
	}
}

// ResumeRedis continues it with SIGCONT.
func (c *Cluster) ResumeRedis() {
	if c.Redis != nil {
		c.Redis.Resume()
	}
}

// RedisDo sends one command to Redis.
func (c *Cluster) RedisDo(args ...string) (string, error) {
	if c.Redis == nil {
		return "", errOnCluster
	}
	return c.Redis.Do(args...)
}

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
		if c.origin != nil {
			c.origin.stop(3 * time.Second)
			_ = c.origin.logf.Close()
		}
		for _, in := range c.instances {
			_ = in.logf.Close()
		}
		if c.Redis != nil {
			c.Redis.Stop()
		}
		if c.RC != nil {
			c.RC.Stop()
		}
		if c.PG != nil {
			c.PG.Stop()
		}
	})
}

// Keys returns n usernames named prefix-i: on a Redis Cluster, spread
// evenly over its masters (SpreadKeys).
func (c *Cluster) Keys(prefix string, n int) ([]string, error) {
	if c.RC == nil {
		return HotKeys(n), nil
	}
	masters, err := c.RC.Masters()
	if err != nil {
		return nil, err
	}
	return SpreadKeys(prefix, n, len(masters), func(key string) (string, error) {
		m, err := c.RC.MasterOf(key)
		if err != nil {
			return "", err
		}
		return m.Addr, nil
	})
}

// KeyOn returns a function that tells which of keys master serves now.
// It asks the cluster, so it is for the injector's goroutine.
func (c *Cluster) KeyOn(keys []string) func(master string) (string, error) {
	return func(master string) (string, error) {
		for _, k := range keys {
			m, err := c.RC.MasterOf(RedisPrefix + k)
			if err != nil {
				return "", err
			}
			if m.Addr == master {
				return k, nil
			}
		}
		return "", fmt.Errorf("%s serves none of %v", master, keys)
	}
}

// Nodes returns the Redis Cluster's nodes for the injector, nil on one
// Redis.
func (c *Cluster) Nodes() Nodes {
	if c.RC == nil {
		return nil
	}
	return clusterNodes{c.RC}
}

// clusterNodes are a launch.Cluster's nodes by address. Only the
// injector's goroutine uses them while the run lasts.
type clusterNodes struct{ rc *launch.Cluster }

var _ Nodes = clusterNodes{}

// clusterTimeout bounds the wait for a promotion or for every node in sync.
const clusterTimeout = 30 * time.Second

func (n clusterNodes) node(addr string) (*launch.Redis, error) {
	if r := n.rc.Node(addr); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("no cluster node on %s", addr)
}

func (n clusterNodes) Masters() ([]string, error) {
	ms, err := n.rc.Masters()
	addrs := make([]string, len(ms))
	for i, m := range ms {
		addrs[i] = m.Addr
	}
	return addrs, err
}

func (n clusterNodes) ReplicaOf(master string) (string, error) {
	m, err := n.node(master)
	if err != nil {
		return "", err
	}
	r, err := n.rc.ReplicaOf(m)
	if err != nil || r == nil {
		return "", err
	}
	return r.Addr, nil
}

func (n clusterNodes) Kill(addr string) error {
	r, err := n.node(addr)
	if err == nil {
		r.Stop()
	}
	return err
}

func (n clusterNodes) Pause(addr string) {
	if r, err := n.node(addr); err == nil {
		r.Pause()
	}
}

func (n clusterNodes) Resume(addr string) {
	if r, err := n.node(addr); err == nil {
		r.Resume()
	}
}

func (n clusterNodes) Restart(addr string) error {
	r, err := n.node(addr)
	if err != nil {
		return err
	}
	return r.Restart()
}

func (n clusterNodes) WaitFailover(master string) (string, error) {
	m, err := n.node(master)
	if err != nil {
		return "", err
	}
	p, err := n.rc.WaitFailover(m, clusterTimeout)
	if err != nil {
		return "", err
	}
	return p.Addr, nil
}

func (n clusterNodes) WaitOK() error { return n.rc.WaitOK(clusterTimeout) }

func (n clusterNodes) Do(addr string, args ...string) (string, error) {
	r, err := n.node(addr)
	if err != nil {
		return "", err
	}
	return r.Do(args...)
}

// ReadStore reads the final state of keys straight from PostgreSQL, or in
// ModeProxy from the origin, which has no cache.
func (c *Cluster) ReadStore(ctx context.Context, keys []string) (map[string]State, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if c.origin != nil {
		return c.readOrigin(ctx, keys)
	}
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

// readOrigin reads the state of keys from the origin.
func (c *Cluster) readOrigin(ctx context.Context, keys []string) (map[string]State, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	states := make(map[string]State, len(keys))
	for _, k := range keys {
		a := probeOne(ctx, client, c.origin.addr, k)
		s, ok := a.State()
		if !ok || (s.Exists && s.Email == "") {
			return nil, fmt.Errorf("cannot read user %s from the origin: status %d %s", k, a.Status, a.Err)
		}
		states[k] = s
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
			body, status, err := getBody(ctx, client, "http://"+in.addr+in.probes+"/readyz")
			if err == nil && status == http.StatusOK && string(body) == in.ready {
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
