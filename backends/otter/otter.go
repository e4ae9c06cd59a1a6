// Package otter is an alternative in-process L1 tier on
// github.com/maypok86/otter/v2, for comparison with the default ristretto
// tier (BENCHMARKS.md measures both).
//
// The tier is bounded in bytes: each entry weighs len(key) + len(value) +
// EntryOverhead. Values are copied in, so callers may reuse their buffers.
//
// otter applies Set and Invalidate synchronously: a value is visible, and a
// later Del removes it, as soon as the call returns, with no buffer that
// drops writes. That is the ordering core.Local needs; ristretto gets it only
// by waiting after each Set.
package otter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/tiercache/tiercache/core"
)

// EntryOverhead is the bookkeeping cost charged per entry besides its key and
// value bytes: otter's node, its hash table slot, the entry struct and the
// value's size class. It is measured, not derived: with it, a full tier
// keeps 1.03-1.04× its MaxBytes in heap at 16, 32 and 64 MiB, its
// frequency sketch included (bench BenchmarkL1Memory).
const EntryOverhead = 160

// Config configures a Tier.
type Config struct {
	// MaxBytes is the memory budget of the entries. Required.
	MaxBytes int64
}

// Tier is an L1 core.Tier. Its zero value is not usable; call New.
type Tier struct {
	c *otter.Cache[string, entry]
}

// entry carries its own TTL so that every Set can choose one.
type entry struct {
	val []byte
	ttl time.Duration
}

var _ core.Tier = (*Tier)(nil)

// New returns a Tier, or an error if cfg cannot hold anything.
func New(cfg Config) (*Tier, error) {
	if cfg.MaxBytes < 64<<10 {
		return nil, fmt.Errorf("otter: MaxBytes %d is below the 64 KiB minimum", cfg.MaxBytes)
	}
	c, err := otter.New(&otter.Options[string, entry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e entry) uint32 {
			return uint32(min(uint64(len(key)+len(e.val)+EntryOverhead), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry]) time.Duration {
			return e.Value.ttl
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("otter: %w", err)
	}
	return &Tier{c: c}, nil
}

// Get returns the value under key. It does not allocate.
func (t *Tier) Get(_ context.Context, key string) ([]byte, bool, error) {
	e, ok := t.c.GetIfPresent(key)
	return e.val, ok, nil
}

// Set stores a copy of val for ttl; it is visible when Set returns.
func (t *Tier) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("otter: ttl must be positive")
	}
	t.c.Set(key, entry{val: bytes.Clone(val), ttl: ttl})
	return nil
}

// Del removes key; it is gone when Del returns.
func (t *Tier) Del(_ context.Context, key string) error {
	t.c.Invalidate(key)
	return nil
}

// Close stops otter's goroutines. The Tier must not be used after.
func (t *Tier) Close() { t.c.StopAllGoroutines() }
