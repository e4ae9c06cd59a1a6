package otter_test

import (
	"testing"

	"github.com/tiercache/tiercache/backends/otter"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
)

func TestTier(t *testing.T) {
	coretest.TestTier(t, func(t *testing.T) core.Tier {
		tier, err := otter.New(otter.Config{MaxBytes: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tier.Close)
		return tier
	})
}

func TestNewRejectsTinyBudget(t *testing.T) {
	if _, err := otter.New(otter.Config{MaxBytes: 1000}); err == nil {
		t.Fatal("got nil error for a 1000-byte budget; want an error")
	}
}
