package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/syncbuf"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// fakeStore is a users.Store whose methods are those of Store, except where
// a Func field is set.
type fakeStore struct {
	users.Store
	CreateFunc func(ctx context.Context, u users.User) (uint64, error)
}

func (f *fakeStore) Create(ctx context.Context, u users.User) (uint64, error) {
	if f.CreateFunc != nil {
		return f.CreateFunc(ctx, u)
	}
	return f.Store.Create(ctx, u)
}

// fakeShared is a core.Shared in a map: a unit seam for the L2 answers. It
// sends no invalidations; the real coherence tests run against Redis.
type fakeShared struct {
	mu         sync.Mutex
	m          map[string]core.Entry
	StatusFunc func() string
}

var _ core.Shared = (*fakeShared)(nil)

func newFakeShared() *fakeShared {
	return &fakeShared{m: make(map[string]core.Entry)}
}

// Get answers a value; a "not found" marker is a miss.
func (f *fakeShared) Get(_ context.Context, key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[key]
	return e.Value, e.Found, nil
}

func (f *fakeShared) Set(_ context.Context, key string, val []byte, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[strings.Clone(key)] = core.Entry{Value: bytes.Clone(val), Found: true}
	return nil
}

// SetVersion stores e unless key holds a higher version or this entry.
func (f *fakeShared) SetVersion(_ context.Context, key string, e core.Entry, _ time.Duration) (bool, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[key]; ok && (cur.Version > e.Version ||
		cur.Version == e.Version && cur.Found == e.Found && bytes.Equal(cur.Value, e.Value)) {
		return false, cur.Version, nil
	}
	e.Value = bytes.Clone(e.Value)
	f.m[strings.Clone(key)] = e
	return true, 0, nil
}

// Replace stores e if key holds version held.
func (f *fakeShared) Replace(_ context.Context, key string, e core.Entry, held uint64, _ time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.m[key]; !ok || cur.Version != held {
		return false, nil
	}
	e.Value = bytes.Clone(e.Value)
	f.m[key] = e
	return true, nil
}

func (f *fakeShared) Del(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
	return nil
}

func (f *fakeShared) Subscribe(core.Invalidator) {}

func (f *fakeShared) Status() string {
	if f.StatusFunc != nil {
		return f.StatusFunc()
	}
	return "ok"
}

// env is one server under test with its own cache, store and logs.
type env struct {
	mem    *memory.Store
	cache  *users.Cache
	srv    *Server
	ln     *fasthttputil.InmemoryListener
	client *fasthttp.Client
	logs   *syncbuf.Buffer
}

// envConfig varies an env; the zero value is L1 (ristretto) + memory store.
type envConfig struct {
	store  func(*memory.Store) users.Store // wraps the memory store
	shared core.Shared
	tier   core.Tier // the L1 tier; a ristretto Tier when nil
}

// newCache returns a Cache over a ristretto L1 and the memory store.
func newCache(tb testing.TB, cfg envConfig) (*users.Cache, *memory.Store) {
	tb.Helper()
	tier := cfg.tier
	if tier == nil {
		rt, err := ristretto.New(ristretto.Config{MaxBytes: 1 << 20})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(rt.Close)
		tier = rt
	}
	mem := memory.New()
	var store users.Store = mem
	if cfg.store != nil {
		store = cfg.store(mem)
	}
	cache, err := users.NewCache(store, core.Config{
		L1:     tier,
		L2:     cfg.shared,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cache.Close)
	return cache, mem
}

// newEnv serves srv on an in-memory listener.
func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	cache, mem := newCache(t, cfg)
	logs := &syncbuf.Buffer{}
	srv := New(cache, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ln := fasthttputil.NewInmemoryListener()
	hs := srv.HTTPServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	client := &fasthttp.Client{
		Dial:                   func(string) (net.Conn, error) { return ln.Dial() },
		DisablePathNormalizing: true, // send the paths exactly as written
		ReadTimeout:            5 * time.Second,
		WriteTimeout:           5 * time.Second,
	}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		if err := hs.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{mem: mem, cache: cache, srv: srv, ln: ln, client: client, logs: logs}
}
