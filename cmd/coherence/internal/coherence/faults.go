package coherence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a fault the checker injects.
type FaultKind string

// The faults, in the order the schedule injects them: the two that the
// short form must include come first.
const (
	RedisRestart FaultKind = "redis-restart" // SHUTDOWN NOSAVE, then start an empty redis-server on the same port
	InstanceKill FaultKind = "kill-9"        // SIGKILL one tiercache instance, restart it with the same flags
	ClientKill   FaultKind = "client-kill"   // CLIENT KILL TYPE normal: Redis drops every client connection
	RedisStall   FaultKind = "redis-stall"   // SIGSTOP redis-server, SIGCONT after Config.Stall
	FlushAll     FaultKind = "flushall"      // FLUSHALL: Redis empties and invalidates every tracked key

	// Redis Cluster faults (-redis cluster). On a cluster, ClientKill and
	// RedisStall act on one master (the next in turn), FlushAll on every
	// master; RedisRestart is not scheduled (see ClusterSchedule).

	// MasterKill: kill -9 of a master; it ends when its replica serves
	// the master's slots (the promotion). NodeReturn follows.
	MasterKill FaultKind = "master-kill"
	// MasterKillHeld: the same with the replication held back: SIGSTOP of
	// the master's replica, CLIENT KILL TYPE replica on the master (the
	// stream already sent would otherwise sit in the replica's socket
	// buffer and be applied after SIGCONT), Injector.Hold of writes the
	// master acknowledges and the replica never gets, kill -9 of the
	// master, SIGCONT of the replica, which is then promoted without those
	// writes (issue 10, finding 4). NodeReturn follows.
	MasterKillHeld FaultKind = "master-kill-held"
	// NodeReturn: the killed master is restarted on its port with its
	// nodes.conf, empty (no persistence), and rejoins as a replica of the
	// node that took over; it ends when every node is in sync.
	NodeReturn FaultKind = "node-return"
)

// Schedule is the fault order on one Redis; it repeats while time remains.
var Schedule = []FaultKind{RedisRestart, InstanceKill, ClientKill, RedisStall, FlushAll}

// ClusterSchedule is the fault order on a Redis Cluster. A master kill,
// first, and an instance kill are in the short form. RedisRestart is left
// out: an empty master back on its port before the cluster notices it died
// keeps its slots, and its replica resyncs to the empty data set, so the
// fault would test a shard flush, which FlushAll on every master already
// does; a node's death and return is MasterKill and NodeReturn.
var ClusterSchedule = []FaultKind{MasterKill, InstanceKill, MasterKillHeld, ClientKill, RedisStall, FlushAll}

// Kinds returns the kinds of fault a schedule records, in its order: a
// master kill is followed by the NodeReturn it brings.
func Kinds(schedule []FaultKind) []FaultKind {
	var ks []FaultKind
	for _, k := range schedule {
		ks = append(ks, k)
		if k.killsMaster() && !slices.Contains(ks, NodeReturn) {
			ks = append(ks, NodeReturn)
		}
	}
	return ks
}

// killsMaster reports whether the fault kills a cluster master.
func (k FaultKind) killsMaster() bool { return k == MasterKill || k == MasterKillHeld }

// redisDown reports whether the fault makes Redis (or, on a cluster, a
// master) unreachable, so that GETs then measure the degraded path (the
// breaker).
func (k FaultKind) redisDown() bool { return k == RedisRestart || k == RedisStall || k.killsMaster() }

// breaksRedisWrites reports whether writes during the fault may fail to
// reach Redis and wait in the writer's outbox.
func (k FaultKind) breaksRedisWrites() bool {
	return k == RedisRestart || k == RedisStall || k == ClientKill || k.killsMaster()
}

// Fault is one injected fault. Times are the checker clock's.
type Fault struct {
	Kind  FaultKind `json:"kind"`
	Start int64     `json:"start"`
	End   int64     `json:"end"` // healed: Redis answers again, the restarted instance serves, a replica took over a killed master's slots
	// Instance and Gen are the killed process of a kill-9.
	Instance int `json:"instance,omitempty"`
	Gen      int `json:"gen,omitempty"`
	// Node is the cluster node acted on (host:port): the master killed or
	// stalled, the node returning, the node whose clients were killed.
	Node string `json:"node,omitempty"`
	// Promoted is the replica that took over a killed master's slots.
	Promoted string `json:"promoted,omitempty"`
	// Unreplicated is, for a master kill, how many bytes of the master's
	// replication stream the promoted replica did not have (at least: the
	// master's offset is read just before the kill). Not zero means
	// writes the master acknowledged were lost with it.
	Unreplicated int64  `json:"unreplicated,omitempty"`
	Err          string `json:"err,omitempty"` // the fault could not be injected or healed
}

// Target is what the injector acts on; the cluster implements it.
type Target interface {
	RestartRedis() error
	PauseRedis()
	ResumeRedis()
	RedisDo(args ...string) (string, error)
	// KillInstance SIGKILLs instance slot and returns the generation that
	// died; RestartInstance starts it again and returns once it serves.
	KillInstance(slot int) (gen int, err error)
	RestartInstance(slot int) error
	Instances() int
}

// Nodes are the nodes of a Redis Cluster, by address (host:port), for the
// cluster faults.
type Nodes interface {
	// Masters returns the nodes serving slots now.
	Masters() ([]string, error)
	// ReplicaOf returns the replica of master.
	ReplicaOf(master string) (string, error)
	Kill(node string) error // kill -9
	Pause(node string)      // SIGSTOP
	Resume(node string)     // SIGCONT
	// Restart starts a killed node again on its port.
	Restart(node string) error
	// WaitFailover waits until a replica of the killed master serves its
	// slots and returns it.
	WaitFailover(master string) (string, error)
	// WaitOK waits until every node is up, in sync and agreed on the roles.
	WaitOK() error
	// Do sends one command to node.
	Do(node string, args ...string) (string, error)
}

// Injector runs the fault schedule.
type Injector struct {
	Target  Target
	Clock   *Clock
	Warmup  time.Duration // steady state before the first fault
	Gap     time.Duration // steady state between a fault's end and the next fault
	Tail    time.Duration // no fault starts later than this before the end
	Stall   time.Duration // how long Redis stays stopped
	Restart time.Duration // downtime of a killed instance before its restart
	OnFault func(Fault)   // called after each fault ends, from the injector's goroutine

	// Schedule is the order of faults; nil is Schedule. ClusterSchedule
	// needs Nodes.
	Schedule []FaultKind
	Nodes    Nodes
	// Hold is how long a MasterKillHeld lets the master acknowledge writes
	// that its replica does not get, before the kill.
	Hold time.Duration
	// NodeDowntime is how long a killed master stays down after its
	// replica took over, before NodeReturn.
	NodeDowntime time.Duration
	// Witness, if not nil, writes through the service a key that master
	// serves and no workload client uses, just before a master kill
	// (Witness.Write).
	Witness interface{ Write(master string) }
}

// Run injects faults from the schedule until ctx ends or until less than
// Tail is left before deadline (checker clock time). It always heals what it
// broke before returning: a stalled Redis is resumed, a killed instance
// restarted.
func (in *Injector) Run(ctx context.Context, deadline int64) []Fault {
	var faults []Fault
	if !sleep(ctx, in.Warmup) {
		return faults
	}
	schedule := in.Schedule
	if schedule == nil {
		schedule = Schedule
	}
	killSlot, master := 0, 0
	for i := 0; ; i++ {
		kind := schedule[i%len(schedule)]
		if in.Clock.Now()+int64(in.Tail) > deadline {
			return faults
		}
		f := Fault{Kind: kind, Start: in.Clock.Now()}
		var err error
		failed := false
		switch {
		case in.Nodes != nil && kind != InstanceKill:
			var ret *Fault
			ret, err = in.clusterFault(&f, master)
			master++
			if ret != nil {
				// The kill ended with the promotion: record it, then the
				// node's return. Their errors are in their Err.
				failed = f.Err != ""
				faults = append(faults, f)
				if in.OnFault != nil {
					in.OnFault(f)
				}
				f = *ret
			}
		case kind == RedisRestart:
			err = in.Target.RestartRedis()
		case kind == ClientKill:
			_, err = in.Target.RedisDo("CLIENT", "KILL", "TYPE", "normal")
		case kind == FlushAll:
			_, err = in.Target.RedisDo("FLUSHALL")
		case kind == RedisStall:
			in.Target.PauseRedis()
			time.Sleep(in.Stall) // not cut short by ctx: Resume must follow Pause
			in.Target.ResumeRedis()
		case kind == InstanceKill:
			f.Instance = killSlot
			killSlot = (killSlot + 1) % in.Target.Instances()
			f.Gen, err = in.Target.KillInstance(f.Instance)
			if err == nil {
				time.Sleep(in.Restart)
				err = in.Target.RestartInstance(f.Instance)
			}
		}
		if f.End == 0 {
			f.End = in.Clock.Now()
		}
		if err != nil {
			f.Err = fmt.Sprintf("%s: %v", f.Kind, err)
		}
		faults = append(faults, f)
		if in.OnFault != nil {
			in.OnFault(f)
		}
		if failed || f.Err != "" || !sleep(ctx, in.Gap) {
			return faults
		}
	}
}

// clusterFault injects f (not an instance kill) on the cluster's nodes,
// on the master numbered turn among those serving slots now. For a master
// kill that got as far as the kill it returns the NodeReturn that followed,
// and the errors of both are in their Err; otherwise the error is f's.
// Whatever fails, it heals what it broke: a paused node is resumed, a
// killed one restarted.
func (in *Injector) clusterFault(f *Fault, turn int) (ret *Fault, err error) {
	masters, err := in.Nodes.Masters()
	if err != nil {
		return nil, err
	}
	if len(masters) == 0 {
		return nil, errors.New("no master serves slots")
	}
	m := masters[turn%len(masters)]
	f.Node = m
	switch f.Kind {
	case ClientKill:
		_, err = in.Nodes.Do(m, "CLIENT", "KILL", "TYPE", "normal")
	case RedisStall:
		in.Nodes.Pause(m)
		time.Sleep(in.Stall) // not cut short by ctx: Resume must follow Pause
		in.Nodes.Resume(m)
	case FlushAll:
		// FLUSHALL acts on one node: an operator empties a cluster by
		// running it on every master.
		f.Node = strings.Join(masters, ",")
		for _, n := range masters {
			if _, err = in.Nodes.Do(n, "FLUSHALL"); err != nil {
				break
			}
		}
	case MasterKill, MasterKillHeld:
		return in.killMaster(f, m)
	default:
		err = fmt.Errorf("not a cluster fault")
	}
	return nil, err
}

// killMaster kills master m (f.Kind tells whether its replication is held
// back first), waits for the promotion, which ends f, then restarts m after
// NodeDowntime and returns that NodeReturn. An error before the kill is
// returned, with no NodeReturn; after it, errors go to the faults' Err.
func (in *Injector) killMaster(f *Fault, m string) (*Fault, error) {
	replica, err := in.Nodes.ReplicaOf(m)
	if err != nil {
		return nil, err
	}
	if replica == "" {
		return nil, fmt.Errorf("master %s has no replica", m)
	}
	witness := func() {
		if in.Witness != nil {
			in.Witness.Write(m)
		}
	}
	if f.Kind == MasterKillHeld {
		// A value the replica has, so that the write it misses replaces
		// one: loopback replication takes well under witnessReplicated.
		witness()
		time.Sleep(witnessReplicated)
		in.Nodes.Pause(replica)
		// Without this, what the master sent stays in the stopped
		// replica's socket buffer and is applied once it resumes: nothing
		// would be held back. The replica cannot reconnect while stopped.
		if _, err := in.Nodes.Do(m, "CLIENT", "KILL", "TYPE", "replica"); err != nil {
			in.Nodes.Resume(replica)
			return nil, err
		}
		witness()
		time.Sleep(in.Hold) // the master acknowledges writes the replica never gets
	} else {
		witness() // replicated at once, most likely: the control
	}
	offset := replOffset(in.Nodes, m, "master_repl_offset")
	err = in.Nodes.Kill(m)
	if f.Kind == MasterKillHeld {
		in.Nodes.Resume(replica)
	}
	if err != nil {
		return nil, err
	}
	f.Promoted, err = in.Nodes.WaitFailover(m)
	f.End = in.Clock.Now()
	if err != nil {
		f.Err = fmt.Sprintf("%s: %v", f.Kind, err)
	} else if offset > 0 {
		// The promoted replica took over at second_repl_offset - 1.
		if took := replOffset(in.Nodes, f.Promoted, "second_repl_offset"); took > 0 {
			f.Unreplicated = max(0, offset-(took-1))
		}
	}
	// The node returns even when no promotion was seen: the run must end
	// with every node up.
	time.Sleep(in.NodeDowntime)
	ret := &Fault{Kind: NodeReturn, Start: in.Clock.Now(), Node: m}
	err = in.Nodes.Restart(m)
	if err == nil {
		err = in.Nodes.WaitOK()
	}
	ret.End = in.Clock.Now()
	if err != nil {
		ret.Err = fmt.Sprintf("%s: %v", NodeReturn, err)
	}
	return ret, nil
}

// witnessReplicated is how long a MasterKillHeld waits after the first
// witness write for the replica to have it.
const witnessReplicated = 100 * time.Millisecond

// replOffset reads an offset field of INFO replication on node; 0 when
// it cannot.
func replOffset(n Nodes, node, field string) int64 {
	info, err := n.Do(node, "INFO", "replication")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			o, _ := strconv.ParseInt(v, 10, 64)
			return o
		}
	}
	return 0
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
