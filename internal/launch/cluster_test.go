package launch

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// A cluster starts with three masters, one replica each, and survives the
// kill of a master: its replica takes over, and the killed node comes back
// as a replica.
func TestStartCluster(t *testing.T) {
	dir, err := os.MkdirTemp("", "launch-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	begin := time.Now()
	c, err := StartCluster(dir)
	if err != nil {
		t.Fatalf("StartCluster: got %v; want nil", err)
	}
	t.Cleanup(c.Stop)
	t.Logf("cluster created in %v", time.Since(begin))

	roles, err := c.Roles()
	if err != nil {
		t.Fatal(err)
	}
	masters, replicas := 0, map[*Redis]*Redis{}
	for _, r := range roles {
		switch {
		case r.Master && len(r.Slots) > 0:
			masters++
		case !r.Master && r.Of != nil:
			replicas[r.Of] = r.Node
		}
	}
	if masters != 3 || len(replicas) != 3 {
		t.Fatalf("got %d masters and %d replicated masters; want 3 and 3: %+v", masters, len(replicas), roles)
	}
	// Keys spread over the masters.
	seen := map[*Redis]bool{}
	for i := range 30 {
		m, err := c.MasterOf(fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		seen[m] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 keys landed on %d masters; want 3", len(seen))
	}

	m, err := c.MasterOf("k0")
	if err != nil {
		t.Fatal(err)
	}
	want := replicas[m]
	begin = time.Now()
	m.Stop()
	got, err := c.WaitFailover(m, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover in %v", time.Since(begin))
	if got != want {
		t.Errorf("promoted %s; want %s, the replica of %s", got.Addr, want.Addr, m.Addr)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitOK(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if of, err := c.ReplicaOf(got); err != nil || of != m {
		t.Errorf("after its restart %s follows? got ReplicaOf(%s) = %v, %v; want %s", m.Addr, got.Addr, of, err, m.Addr)
	}
	pids := []int{}
	for _, n := range c.Nodes {
		pids = append(pids, n.Pid())
	}
	c.Stop()
	for i, n := range c.Nodes {
		if n.Pid() != 0 {
			t.Errorf("node %d pid %d still running after Stop", i, pids[i])
		}
	}
}
