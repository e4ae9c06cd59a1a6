package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tiercache/tiercache/backends/redis"
	"github.com/tiercache/tiercache/backends/ristretto"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/launch"
)

// Instances A and B of an application cache a slow price service. Each
// has its own L1; both share one Redis, which tells each of the other's
// writes.
func Example_twoInstances() {
	redisURL, stopRedis, err := startRedis()
	if err != nil {
		fmt.Println("cannot start redis:", err)
		return
	}
	defer stopRedis()

	ctx := context.Background()
	store := &priceService{prices: map[string]price{}}
	store.Set("apple", "price 10")

	a, closeA, err := newInstance(redisURL, store)
	if err != nil {
		fmt.Println("instance A:", err)
		return
	}
	defer closeA()
	b, closeB, err := newInstance(redisURL, store)
	if err != nil {
		fmt.Println("instance B:", err)
		return
	}
	defer closeB()

	fmt.Println("A:", get(ctx, a, "apple")) // loaded, and written to Redis
	fmt.Println("A:", get(ctx, a, "apple")) // read from Redis, kept in L1
	fmt.Println("A:", get(ctx, a, "apple"))
	fmt.Println("B:", get(ctx, b, "apple"))

	// A new price, written through A: the store first, then the cache.
	version := store.Set("apple", "price 12")
	a.Publish(ctx, "apple", []byte("price 12"), version)
	fmt.Println("A:", get(ctx, a, "apple"))
	fmt.Println("B:", await(ctx, b, "apple", []byte("price 12")))

	// A delete, the same way.
	version = store.Delete("apple")
	a.PublishNotFound(ctx, "apple", version)
	fmt.Println("A:", get(ctx, a, "apple"))
	fmt.Println("B:", await(ctx, b, "apple", nil))

	// Output:
	// A: "price 10" from store
	// A: "price 10" from l2
	// A: "price 10" from l1
	// B: "price 10" from l2
	// A: "price 12" from l2
	// B: "price 12" from l2
	// A: not found, from store
	// B: not found, from store
}

// priceService is the source of truth: prices in a map, each write
// numbered by a version counter.
type priceService struct {
	mu      sync.Mutex
	version uint64 // of the latest write, over all keys
	prices  map[string]price
}

type price struct {
	value   string
	version uint64
}

// Load is the slow remote call that the cache saves.
func (s *priceService) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prices[key]
	if !ok {
		// The latest version orders the miss after the delete.
		return nil, s.version, core.ErrNotFound
	}
	return []byte(p.value), p.version, nil
}

// Set writes a price and returns the version of the write.
func (s *priceService) Set(key, value string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.prices[key] = price{value: value, version: s.version}
	return s.version
}

// Delete removes a price and returns the version of the delete.
func (s *priceService) Delete(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	delete(s.prices, key)
	return s.version
}

// newInstance builds what one instance of the application runs: a Cache
// with its own L1 and its own connection to the shared Redis.
func newInstance(redisURL string, loader core.Loader) (*core.Cache, func(), error) {
	l1, err := ristretto.New(ristretto.Config{MaxBytes: 1 << 20})
	if err != nil {
		return nil, nil, err
	}
	l2, err := redis.New(redis.Config{URL: redisURL, Prefix: "prices:"})
	if err != nil {
		l1.Close()
		return nil, nil, err
	}
	c, err := core.New(core.Config{Loader: loader, L1: l1, L2: l2})
	if err != nil {
		l2.Close()
		l1.Close()
		return nil, nil, err
	}
	return c, func() { c.Close(); l2.Close(); l1.Close() }, nil
}

// get reads key and describes the answer.
func get(ctx context.Context, c *core.Cache, key string) string {
	return describe(c.Get(ctx, key))
}

// describe tells a value or a miss and the tier that answered it.
func describe(r core.Result, err error) string {
	switch {
	case errors.Is(err, core.ErrNotFound):
		return "not found, from " + r.Source.String()
	case err != nil:
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%q from %s", r.Value, r.Source)
}

// await reads key until it answers want (nil: not found) and describes
// that answer. The other instance's write reaches this one through Redis
// a moment later, so it gives up only after a while.
func await(ctx context.Context, c *core.Cache, key string, want []byte) string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		r, err := c.Get(ctx, key)
		done := err == nil && want != nil && bytes.Equal(r.Value, want) ||
			errors.Is(err, core.ErrNotFound) && want == nil
		if done {
			return describe(r, err)
		}
		if time.Now().After(deadline) {
			return "still " + describe(r, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRedis starts a private redis-server in a temporary directory and
// returns its URL and a function that stops it and removes the directory.
func startRedis() (string, func(), error) {
	dir, err := os.MkdirTemp("", "tiercache-example-")
	if err != nil {
		return "", nil, err
	}
	srv, err := launch.StartRedis(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return srv.URL(), func() { srv.Stop(); os.RemoveAll(dir) }, nil
}
