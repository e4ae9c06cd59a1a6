// Package ristretto is the in-process L1 tier on github.com/dgraph-io/ristretto/v2.
//
// The tier is bounded in bytes: each entry costs len(key) + len(value) +
// EntryOverhead, and the admission sketch's counters are paid for out of the
// same budget. Values are copied in, so callers may reuse their buffers.
//
// ristretto applies a Set of a new key asynchronously and may drop it when its
// buffers are full; Tier.Set waits until the write was applied (or rejected by
// admission), so that a value is visible, and an invalidation's Del is
// ordered after it, as soon as Set returns. A Set can still be refused:
// a cache may always forget.
package ristretto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/tiercache/tiercache/core"
)

// EntryOverhead is the bookkeeping cost charged per entry besides its key and
// value bytes: ristretto's item, its map slots, the TTL bucket entry and the
// value's slice header and size class. It is measured, not derived (bench
// BenchmarkL1Memory checks the heap of a full tier against MaxBytes). Go
// maps grow in steps, so the ratio moves with the budget and the entry
// size.
const EntryOverhead = 280

// counterBytes approximates the memory of one admission counter.
const counterBytes = 3

// Config configures a Tier.
type Config struct {
	// MaxBytes is the memory budget, counters and entries together. Required.
	MaxBytes int64
	// NumCounters sizes the admission sketch; ristretto advises about 10×
	// the number of entries when full. Default MaxBytes/32: several times
	// the entries of small values, for a small share of MaxBytes.
	NumCounters int64
}

// Tier is an L1 core.Tier. Its zero value is not usable; call New.
type Tier struct {
	c *ristretto.Cache[string, []byte]
}

var _ core.Tier = (*Tier)(nil)

// New returns a Tier, or an error if cfg cannot hold anything.
func New(cfg Config) (*Tier, error) {
	if cfg.NumCounters == 0 {
		cfg.NumCounters = max(cfg.MaxBytes/32, 1000)
	}
	maxCost := cfg.MaxBytes - cfg.NumCounters*counterBytes
	if maxCost < 64<<10 {
		return nil, fmt.Errorf("ristretto: MaxBytes %d leaves %d bytes for entries after the counters; need at least 64 KiB",
			cfg.MaxBytes, maxCost)
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        cfg.NumCounters,
		MaxCost:            maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true, // EntryOverhead accounts for it
	})
	if err != nil {
		return nil, fmt.Errorf("ristretto: %w", err)
	}
	return &Tier{c: c}, nil
}

// Get returns the value under key. It does not allocate.
func (t *Tier) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := t.c.Get(key)
	return v, ok, nil
}

// Set stores a copy of val for ttl and waits until ristretto applied it.
func (t *Tier) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("ristretto: ttl must be positive")
	}
	cost := int64(len(key) + len(val) + EntryOverhead)
	if t.c.SetWithTTL(key, bytes.Clone(val), cost, ttl) {
		t.c.Wait()
	}
	return nil
}

// Del removes key. It is ordered after any earlier Set of key.
func (t *Tier) Del(_ context.Context, key string) error {
	t.c.Del(key)
	return nil
}

// Close stops ristretto's goroutines. The Tier must not be used after.
func (t *Tier) Close() { t.c.Close() }
