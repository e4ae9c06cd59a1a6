//go:build !race

package core

import (
	"context"
	"testing"
)

// An L1 hit allocates nothing (docs/design.md invariant 9).
func TestL1HitAllocs(t *testing.T) {
	c, _ := newCache(t, Config{Loader: newSource("kiran", kiran)})
	ctx := context.Background()
	if _, err := c.Get(ctx, "kiran"); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if r, err := c.Get(ctx, "kiran"); err != nil || r.Source != SourceL1 {
			t.Fatalf("got %v, %v; want an L1 hit", r.Source, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("L1 hit: %v allocs/op; want 0", allocs)
	}
}
