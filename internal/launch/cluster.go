package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RedisCLIInstallHint tells how to get redis-cli, which creates a cluster.
const RedisCLIInstallHint = "redis-cli not found in PATH; install it (Debian: apt-get install redis-tools, which redis-server pulls in) or run `make test`, which does"

// ClusterNodeTimeout is the cluster-node-timeout of a Cluster: a master
// that does not answer for this long is failed over to its replica.
const ClusterNodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster of six redis-server processes on loopback
// ports: three masters with one replica each. Which node is a master
// changes with failovers; Roles tells the current state. Faults are the
// nodes' own: Stop (kill -9), Pause and Resume (SIGSTOP, SIGCONT),
// Restart (on the same port, with the same nodes.conf).
type Cluster struct {
	// Nodes are the six nodes in the order they were started. Each keeps
	// its port, its directory and its nodes.conf across Restart, so it
	// rejoins the cluster as the cluster dictates (a master that was failed
	// over comes back as a replica of its former replica).
	Nodes []*Redis
}

// Role is what one node is in the cluster, as a live node sees it.
type Role struct {
	Node   *Redis
	ID     string // the cluster node id
	Master bool
	// Of is the master a replica follows; nil for a master.
	Of *Redis
	// Slots are a master's slot ranges ("0-5460"); nil for a replica.
	Slots []string
	// Failed reports the node as failing (flag fail or fail?).
	Failed bool
}

// StartCluster starts six redis-server processes in cluster mode
// (cluster-node-timeout ClusterNodeTimeout, no persistence), each on a
// free loopback port and with its files in dir/node-N, creates the cluster
// with redis-cli --cluster create … --cluster-replicas 1, and returns once
// every node reports cluster_state:ok and all agree on who serves which
// slots (at most 30s). On error it stops every process it started.
//
// A missing redis-server or redis-cli gives an error that wraps
// ErrNotInstalled.
func StartCluster(dir string) (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RedisCLIInstallHint, ErrNotInstalled)
	}
	c := &Cluster{}
	for i := range 6 {
		ndir := filepath.Join(dir, "node-"+strconv.Itoa(i))
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			c.Stop()
			return nil, fmt.Errorf("cannot create %s: %w", ndir, err)
		}
		// The cluster bus listens on port+10000 unless told otherwise,
		// which is past 65535 for most ephemeral ports: give it a port of
		// its own.
		bus, err := FreePort()
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("cannot find a free port: %w", err)
		}
		r, err := StartRedis(ndir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout/time.Millisecond)),
			"--cluster-port", strconv.Itoa(bus),
			// A replica's first sync would otherwise wait 5s for more
			// replicas to share the transfer, and until it synced, it
			// cannot be failed over to.
			"--repl-diskless-sync-delay", "0")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, r)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("cannot create the cluster: redis-cli: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := c.WaitOK(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// URL is the redis:// URL of the first node alone: a seed from which a
// client finds the others.
func (c *Cluster) URL() string { return c.Nodes[0].URL() }

// URLAll is the redis:// URL that lists every node (?addr=host:port).
func (c *Cluster) URLAll() string {
	var b strings.Builder
	b.WriteString(c.Nodes[0].URL())
	for i, n := range c.Nodes[1:] {
		if i == 0 {
			b.WriteString("?addr=")
		} else {
			b.WriteString("&addr=")
		}
		b.WriteString(n.Addr)
	}
	return b.String()
}

// Stop kills every node (by pid) and waits for them.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// Node returns the node listening on addr (host:port), or nil.
func (c *Cluster) Node(addr string) *Redis {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Roles returns the roles of all six nodes as the first running node that
// answers sees them (CLUSTER NODES).
func (c *Cluster) Roles() ([]Role, error) {
	var last error
	for _, n := range c.Nodes {
		if n.Pid() == 0 {
			continue
		}
		roles, err := c.rolesFrom(n)
		if err == nil {
			return roles, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no node answers CLUSTER NODES: %v", last)
}

// rolesFrom parses CLUSTER NODES as from sees it: lines of "id
// ip:port@bus flags master-id ping pong epoch link slot…".
func (c *Cluster) rolesFrom(from *Redis) ([]Role, error) {
	out, err := from.Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var roles []Role
	masterOf := map[string]string{} // replica's id → master id
	byID := map[string]*Redis{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("%s: unexpected CLUSTER NODES line %q", from.Addr, line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		node := c.Node(addr)
		if node == nil {
			return nil, fmt.Errorf("%s: CLUSTER NODES lists %s, not one of ours", from.Addr, addr)
		}
		flags := strings.Split(f[2], ",")
		r := Role{Node: node, ID: f[0], Master: slices.Contains(flags, "master"),
			Failed: slices.Contains(flags, "fail") || slices.Contains(flags, "fail?")}
		if r.Master {
			r.Slots = f[8:]
		} else {
			masterOf[f[0]] = f[3]
		}
		byID[f[0]] = node
		roles = append(roles, r)
	}
	for i := range roles {
		if m, ok := masterOf[roles[i].ID]; ok {
			roles[i].Of = byID[m]
		}
	}
	slices.SortFunc(roles, func(a, b Role) int {
		return slices.Index(c.Nodes, a.Node) - slices.Index(c.Nodes, b.Node)
	})
	return roles, nil
}

// Masters returns the nodes that serve slots now, in Nodes order.
func (c *Cluster) Masters() ([]*Redis, error) {
	roles, err := c.Roles()
	if err != nil {
		return nil, err
	}
	var ms []*Redis
	for _, r := range roles {
		if r.Master && len(r.Slots) > 0 {
			ms = append(ms, r.Node)
		}
	}
	return ms, nil
}

// ReplicaOf returns the node that replicates master now, or nil.
func (c *Cluster) ReplicaOf(master *Redis) (*Redis, error) {
	roles, err := c.Roles()
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.Of == master {
			return r.Node, nil
		}
	}
	return nil, nil
}

// MasterOf returns the master that serves key now.
func (c *Cluster) MasterOf(key string) (*Redis, error) {
	roles, err := c.Roles()
	if err != nil {
		return nil, err
	}
	slotText, err := roles[0].Node.Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return nil, err
	}
	slot, err := strconv.Atoi(slotText)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER KEYSLOT %q answered %q", key, slotText)
	}
	for _, r := range roles {
		if r.Master && servesSlot(r.Slots, slot) {
			return r.Node, nil
		}
	}
	return nil, fmt.Errorf("no master serves slot %d of %q", slot, key)
}

// servesSlot reports whether ranges ("0-5460", "5461", "[…]" for a
// migration) include slot.
func servesSlot(ranges []string, slot int) bool {
	for _, r := range ranges {
		if strings.HasPrefix(r, "[") {
			continue
		}
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && a <= slot && slot <= b {
			return true
		}
	}
	return false
}

// WaitOK waits until every running node reports cluster_state:ok, knows
// every other node, sees none failing and each either serving slots or
// replicating a master, every replica is in sync with its master (so it
// can be failed over to), and all agree on who serves which slots and who
// replicates whom, for at most timeout.
func (c *Cluster) WaitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.ok()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok within %v: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ok reports why the cluster is not ok, or nil.
func (c *Cluster) ok() error {
	var want string
	for _, n := range c.Nodes {
		if n.Pid() == 0 {
			continue
		}
		info, err := n.Do("CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", n.Addr)
		}
		repl, err := n.Do("INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return fmt.Errorf("%s: replica not in sync with its master", n.Addr)
		}
		roles, err := c.rolesFrom(n)
		if err != nil {
			return err
		}
		if len(roles) != len(c.Nodes) {
			return fmt.Errorf("%s knows %d nodes; want %d", n.Addr, len(roles), len(c.Nodes))
		}
		var b strings.Builder
		for _, r := range roles {
			if r.Failed {
				return fmt.Errorf("%s sees %s failing", n.Addr, r.Node.Addr)
			}
			switch {
			case r.Master && len(r.Slots) > 0:
				fmt.Fprintf(&b, "%s:%v ", r.Node.Addr, r.Slots)
			case r.Of != nil:
				fmt.Fprintf(&b, "%s>%s ", r.Node.Addr, r.Of.Addr)
			default: // a replica not yet attached, or a master without slots
				return fmt.Errorf("%s sees %s neither serving slots nor replicating", n.Addr, r.Node.Addr)
			}
		}
		switch {
		case want == "":
			want = b.String()
		case b.String() != want:
			return fmt.Errorf("nodes disagree on the roles: %s vs %s", want, b.String())
		}
	}
	if want == "" {
		return errors.New("no node is running")
	}
	return nil
}

// WaitFailover waits until a replica that followed master serves master's
// slots, for at most timeout, and returns it. Kill or pause master first.
func (c *Cluster) WaitFailover(master *Redis, timeout time.Duration) (*Redis, error) {
	deadline := time.Now().Add(timeout)
	roles, err := c.Roles()
	if err != nil {
		return nil, err
	}
	var slots []string
	for _, r := range roles {
		if r.Node == master {
			slots = r.Slots
		}
	}
	if len(slots) == 0 {
		return nil, fmt.Errorf("%s serves no slots", master.Addr)
	}
	for {
		for _, n := range c.Nodes {
			if n == master || n.Pid() == 0 {
				continue
			}
			// Ask the candidate itself: it is the first to know.
			roles, err := c.rolesFrom(n)
			if err != nil {
				continue
			}
			for _, r := range roles {
				if r.Node == n && r.Master && slices.Equal(r.Slots, slots) {
					return n, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no replica of %s took over its slots within %v", master.Addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
