package coherence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Mix is the share of each operation, in percent; the shares need not add
// up to 100.
type Mix struct {
	Get, Update, Register, Delete int
}

// DefaultMix is mostly reads, with enough registrations and deletes that
// users come and go.
var DefaultMix = Mix{Get: 70, Update: 15, Register: 7, Delete: 8}

func (m Mix) pick(rng *rand.Rand) Kind {
	n := rng.IntN(m.Get + m.Update + m.Register + m.Delete)
	switch {
	case n < m.Get:
		return Get
	case n < m.Get+m.Update:
		return Update
	case n < m.Get+m.Update+m.Register:
		return Register
	}
	return Delete
}

// Workload drives the instances with concurrent HTTP clients. Each client
// sticks to one instance (client i to slot i mod Slots) and keeps one
// keep-alive connection.
type Workload struct {
	Clients int
	Keys    []string
	Mix     Mix
	// Rate is the target of all clients together, in ops/s; 0 runs each
	// client as fast as its answers come.
	Rate    float64
	MaxOps  int
	Timeout time.Duration // per request
	Seed    uint64

	Slots int
	Addr  func(slot int) string
	Gen   func(slot int) int
}

// Run runs the clients until ctx ends or MaxOps ops have begun, recording
// every op in h. A request in flight when ctx ends still completes (within
// Timeout), so that its outcome is known.
func (w *Workload) Run(ctx context.Context, h *History, clock *Clock) {
	var wg sync.WaitGroup
	for i := range w.Clients {
		cl := &client{
			id: i, slot: i % w.Slots, w: w, h: h, clock: clock,
			rng: rand.New(rand.NewPCG(w.Seed, uint64(i))),
			http: &http.Client{
				Timeout: w.Timeout,
				Transport: &http.Transport{
					DialContext:         (&net.Dialer{Timeout: w.Timeout}).DialContext,
					MaxIdleConnsPerHost: 1,
					IdleConnTimeout:     30 * time.Second,
					DisableCompression:  true,
				},
			},
		}
		wg.Go(func() { cl.run(ctx) })
	}
	wg.Wait()
}

type client struct {
	id, slot int
	w        *Workload
	h        *History
	clock    *Clock
	rng      *rand.Rand
	http     *http.Client
	seq      int
}

func (cl *client) run(ctx context.Context) {
	defer cl.http.CloseIdleConnections()
	var interval time.Duration
	if cl.w.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cl.w.Clients) / cl.w.Rate)
	}
	next := time.Now()
	for ctx.Err() == nil {
		if interval > 0 {
			// Start at a random phase, keep the pace, never burst to catch up.
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				if !sleep(ctx, d) {
					return
				}
			} else {
				next = time.Now()
			}
		}
		if ops, _ := cl.h.Counts(); cl.w.MaxOps > 0 && ops >= cl.w.MaxOps {
			return
		}
		if failed := cl.once(); failed {
			sleep(ctx, 20*time.Millisecond) // a dead instance refuses at once: do not spin
		}
	}
}

// once runs one operation and reports whether it got no HTTP answer.
func (cl *client) once() bool {
	kind := cl.w.Mix.pick(cl.rng)
	key := cl.w.Keys[cl.rng.IntN(len(cl.w.Keys))]
	return cl.op(kind, key)
}

// op runs one operation of kind on key, recorded in the history, and
// reports whether it got no HTTP answer.
func (cl *client) op(kind Kind, key string) bool {
	op := Op{Client: cl.id, Instance: cl.slot, Kind: kind, Key: key}
	if kind == Register || kind == Update {
		cl.seq++
		op.Email = fmt.Sprintf("c%d-%d@x.test", cl.id, cl.seq)
	}
	op.Gen = cl.w.Gen(cl.slot)
	id := cl.h.Begin(op)
	status, out, cs, err := cl.do(kind, key, op.Email)
	ret := cl.clock.Now()
	cl.h.End(id, func(op *Op) {
		op.Return, op.Status, op.Out, op.CacheStatus = ret, status, out, cs
		if err != nil {
			op.Err = err.Error()
			var oe *net.OpError
			op.NotSent = errors.As(err, &oe) && oe.Op == "dial"
		}
	})
	return err != nil
}

// do sends one request and returns its status, the email of a GET's 200
// answer and the Cache-Status header. A GET's 200 answer that is not the
// user asked for is StatusWrongAnswer, with the body's start.
func (cl *client) do(kind Kind, key, email string) (status int, out, cacheStatus string, err error) {
	base := "http://" + cl.w.Addr(cl.slot)
	var req *http.Request
	switch kind {
	case Get:
		req, err = http.NewRequest(http.MethodGet, base+"/user/"+key, nil)
	case Register:
		req, err = jsonRequest(http.MethodPost, base+"/register", map[string]string{"username": key, "email": email})
	case Update:
		req, err = jsonRequest(http.MethodPut, base+"/user/"+key, map[string]string{"email": email})
	case Delete:
		req, err = http.NewRequest(http.MethodDelete, base+"/user/"+key, nil)
	}
	if err != nil {
		return 0, "", "", err
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, "", "", fmt.Errorf("cannot read answer: %w", err)
	}
	cacheStatus = resp.Header.Get("Cache-Status")
	if kind == Get && resp.StatusCode == http.StatusOK {
		var v struct {
			Data struct {
				Email    string `json:"email"`
				Username string `json:"username"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Data.Username != key || v.Data.Email == "" {
			return StatusWrongAnswer, string(body[:min(len(body), 200)]), cacheStatus, nil
		}
		out = v.Data.Email
	}
	return resp.StatusCode, out, cacheStatus, nil
}

func jsonRequest(method, url string, body map[string]string) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// Witness writes and reads keys that no other client uses, one per
// cluster master, through the service and recorded in the history like
// every op. The injector writes a master's witness key just before it
// kills that master (MasterKillHeld: while the replication is held back),
// and Watch reads every witness key from every instance all along. The
// workload's hot keys are rewritten many times a second, and the writes
// queued during a failover are republished after it, which hides an
// acknowledged L2 write the failover lost; a witness key is written only
// then, so such a loss stays visible: stale reads, then no convergence.
type Witness struct {
	Keys []string
	// KeyOf returns the witness key that master serves now.
	KeyOf func(master string) (string, error)
	// Every is the pause between two rounds of Watch.
	Every time.Duration

	clients []*client // one per instance; clients[0] also writes
	turn    int       // instance of the next write
}

// NewWitness returns a witness on keys whose ops are recorded in h as
// clients id to id+2n-1 for n instances of w: a writer and a reader per
// instance.
func NewWitness(w *Workload, h *History, clock *Clock, id int, keys []string, keyOf func(string) (string, error)) *Witness {
	wi := &Witness{Keys: keys, KeyOf: keyOf, Every: 200 * time.Millisecond}
	for slot := range w.Slots {
		wi.clients = append(wi.clients, &client{
			id: id + slot, slot: slot, w: w, h: h, clock: clock,
			http: &http.Client{Timeout: w.Timeout},
		})
	}
	return wi
}

// Register creates every witness user, through instance 0.
func (wi *Witness) Register() {
	for _, k := range wi.Keys {
		wi.clients[0].op(Register, k)
	}
}

// Write updates the witness key of master through the next instance in
// turn and returns once it is answered. It is called from one goroutine
// (the injector's).
func (wi *Witness) Write(master string) {
	key, err := wi.KeyOf(master)
	if err != nil {
		return // no op: nothing is recorded, nothing checked
	}
	cl := wi.clients[wi.turn%len(wi.clients)]
	wi.turn++
	cl.op(Update, key)
}

// Watch GETs every witness key from every instance, a round every Every,
// until ctx ends. Each instance has its own goroutine, so that an instance
// that does not answer holds back no other.
func (wi *Witness) Watch(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range wi.clients {
		// A reader of its own: the writer's client is used by Write
		// concurrently.
		r := &client{id: c.id + len(wi.clients), slot: c.slot, w: c.w, h: c.h, clock: c.clock, http: &http.Client{Timeout: c.w.Timeout}}
		wg.Go(func() {
			defer r.http.CloseIdleConnections()
			for sleep(ctx, wi.Every) {
				for _, k := range wi.Keys {
					r.op(Get, k)
				}
			}
		})
	}
	wg.Wait()
}

// Probe GETs key from every instance once.
func Probe(ctx context.Context, c *Cluster, key string) []Answer {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	as := make([]Answer, c.Instances())
	for slot := range as {
		as[slot] = probeOne(ctx, client, c.Addr(slot), key)
		as[slot].Instance = slot
	}
	return as
}

func probeOne(ctx context.Context, client *http.Client, addr, key string) (a Answer) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/user/"+key, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			defer resp.Body.Close()
			a.Status, a.CacheStatus = resp.StatusCode, resp.Header.Get("Cache-Status")
			var v struct {
				Data struct{ Email string } `json:"data"`
			}
			if err = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err == nil {
				a.Email = v.Data.Email
			}
		}
	}
	if err != nil {
		a.Status, a.Err = 0, err.Error()
	}
	return a
}

// RedisPrefix is tiercache's default -redis-prefix: the Redis key of user
// u is RedisPrefix+u, which decides its cluster slot.
const RedisPrefix = "tiercache:user:"

// SpreadKeys returns n usernames spread evenly over masters masters:
// names prefix-0, prefix-1, … in turn, each taken while its master (masterOf of
// its Redis key) has fewer than ceil(n/masters) keys, so that every master
// holds hot keys and a fault on any one of them is felt.
func SpreadKeys(prefix string, n, masters int, masterOf func(redisKey string) (string, error)) ([]string, error) {
	quota := (n + masters - 1) / masters
	count := map[string]int{}
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if i >= 100*n+100 {
			return nil, fmt.Errorf("cannot spread %d keys over %d masters: %d found", n, masters, len(keys))
		}
		name := fmt.Sprintf("%s-%d", prefix, i)
		m, err := masterOf(RedisPrefix + name)
		if err != nil {
			return nil, err
		}
		if count[m] < quota {
			count[m]++
			keys = append(keys, name)
		}
	}
	return keys, nil
}

// HotKeys returns n usernames.
func HotKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("hot-%d", i)
	}
	return keys
}
