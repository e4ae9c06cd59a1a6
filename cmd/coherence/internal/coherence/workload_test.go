package coherence

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeService is a linearizable user API: one map under a lock.
func fakeService(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	users := map[string]string{}
	answer := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	user := func(name, email string) any {
		return map[string]any{"data": map[string]string{"username": name, "email": email}}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Email string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		defer mu.Unlock()
		if _, ok := users[in.Username]; ok {
			answer(w, 409, map[string]string{"error": "exists"})
			return
		}
		users[in.Username] = in.Email
		answer(w, 201, user(in.Username, in.Email))
	})
	mux.HandleFunc("/user/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		w.Header().Set("Cache-Status", "fake; hit")
		mu.Lock()
		defer mu.Unlock()
		email, ok := users[name]
		switch {
		case !ok:
			answer(w, 404, map[string]string{"error": "User not found."})
		case r.Method == http.MethodGet:
			answer(w, 200, user(name, email))
		case r.Method == http.MethodPut:
			var in struct{ Email string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			users[name] = in.Email
			answer(w, 200, user(name, in.Email))
		case r.Method == http.MethodDelete:
			delete(users, name)
			answer(w, 200, map[string]string{"message": "deleted"})
		}
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestWorkload(t *testing.T) {
	t.Parallel()
	srv := fakeService(t)
	// Slot 1 is a port nobody listens on: its requests are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	addrs := []string{strings.TrimPrefix(srv.URL, "http://"), closed}

	clock := NewClock()
	h := NewHistory(clock)
	w := &Workload{Clients: 4, Keys: HotKeys(3), Mix: DefaultMix, MaxOps: 2000, Timeout: 2 * time.Second, Seed: 1,
		Slots: 2, Addr: func(slot int) string { return addrs[slot] }, Gen: func(int) int { return 0 }}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w.Run(ctx, h, clock)

	ops := h.Ops()
	if len(ops) < 2000 {
		t.Fatalf("got %d ops; want at least 2000 (MaxOps)", len(ops))
	}
	count := map[string]int{}
	for i := range ops {
		op := &ops[i]
		if !op.Done() || op.ID != i || op.Invoke > op.Return || (i > 0 && op.Invoke < ops[i-1].Invoke) {
			t.Fatalf("op %+v: want done, numbered and in order of invocation", *op)
		}
		switch {
		case op.Instance == 1:
			if !op.NotSent || op.Status != 0 {
				t.Fatalf("op %+v on a closed port: want refused", *op)
			}
			count["refused"]++
		case op.Kind == Get && op.Status == 200:
			if op.Out == "" || op.CacheStatus != "fake; hit" {
				t.Fatalf("read %+v: want its email and Cache-Status", *op)
			}
			count["found"]++
		case op.Kind == Register && op.Status == 201:
			if !strings.HasPrefix(op.Email, fmt.Sprintf("c%d-", op.Client)) {
				t.Fatalf("registration %+v: want a unique email c<client>-<n>@x.test", *op)
			}
			count["registered"]++
		}
	}
	if count["refused"] == 0 || count["found"] == 0 || count["registered"] == 0 {
		t.Errorf("got %v; want refused, found and registered ops", count)
	}

	// The fake is linearizable: the checks must find nothing.
	c := NewChecker(ops, nil, testBounds)
	stale, vs := c.Stale()
	if len(stale) != 0 || len(vs) != 0 {
		t.Errorf("got %d stale reads, violations %v; want none", len(stale), kinds(vs))
	}
	for _, k := range c.Linearizability(stale, 10*time.Second, 2) {
		if k.Result != "ok" {
			t.Errorf("key %s: got %s; want ok", k.Key, k.Result)
		}
	}
	if _, online := h.Counts(); online != 0 {
		t.Errorf("got %d stale reads counted online; want 0", online)
	}
}

// TestWrongUserAnswer: a GET answered 200 with another user's data is
// recorded as StatusWrongAnswer with the body, which the checker counts as
// an impossible read.
func TestWrongUserAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "fake; hit")
		_, _ = w.Write([]byte(`{"data":{"username":"hot-1","email":"o@x"}}`))
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cl := &client{w: &Workload{Addr: func(int) string { return addr }}, http: srv.Client()}
	status, out, cs, err := cl.do(Get, "hot-0", "")
	if err != nil || status != StatusWrongAnswer || !strings.Contains(out, `"username":"hot-1"`) || cs != "fake; hit" {
		t.Fatalf("got %d %q %q %v; want %d with the body and Cache-Status", status, out, cs, err, StatusWrongAnswer)
	}
	op := Op{Kind: Get, Key: "hot-0", Invoke: 0, Return: 1, Status: status, Out: out}
	if _, vs := NewChecker([]Op{op}, nil, testBounds).Stale(); !slices.Equal(kinds(vs), []string{VImpossible}) {
		t.Errorf("got violations %v; want [%s]", kinds(vs), VImpossible)
	}
}

// The witness registers its users, writes the one a master serves through
// each instance in turn, reads them all from every instance, and records
// it all under client ids of its own.
func TestWitness(t *testing.T) {
	t.Parallel()
	srv := fakeService(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	clock := NewClock()
	h := NewHistory(clock)
	w := &Workload{Slots: 2, Timeout: 2 * time.Second, Addr: func(int) string { return addr }, Gen: func(int) int { return 0 }}
	keyOf := func(master string) (string, error) { return "witness-" + master, nil }
	wi := NewWitness(w, h, clock, 10, []string{"witness-a", "witness-b"}, keyOf)
	wi.Every = 5 * time.Millisecond
	wi.Register()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); wi.Watch(ctx) }()
	wi.Write("a")
	wi.Write("b")
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done

	ops := h.Ops()
	var writes []string
	readers := map[[2]int]bool{} // client, instance
	for _, op := range ops {
		if op.IsWrite() {
			writes = append(writes, fmt.Sprintf("%s %s %d/%d %d", op.Kind, op.Key, op.Client, op.Instance, op.Status))
		} else if op.Status == 200 {
			readers[[2]int{op.Client, op.Instance}] = true
		}
	}
	want := []string{"register witness-a 10/0 201", "register witness-b 10/0 201", "update witness-a 10/0 200", "update witness-b 11/1 200"}
	if !slices.Equal(writes, want) {
		t.Errorf("got writes %q; want %q", writes, want)
	}
	if !readers[[2]int{12, 0}] || !readers[[2]int{13, 1}] || len(readers) != 2 {
		t.Errorf("got readers (client, instance) %v; want 12 on 0 and 13 on 1", readers)
	}
	if stale, vs := NewChecker(ops, nil, testBounds).Stale(); len(stale) != 0 || len(vs) != 0 {
		t.Errorf("got %d stale reads, violations %v; want none", len(stale), kinds(vs))
	}
}
