//go:build !race

package redis_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/redistest"
)

// A read allocates the full key and the reply, and nothing more, under the
// context that core.Cache loads with (see Tier.Get).
func TestGetAllocs(t *testing.T) {
	tier := newTier(t, redistest.Start(t), &recorder{})
	ctx := context.WithoutCancel(context.Background())
	if err := tier.Set(ctx, "hit", bytes.Repeat([]byte("x"), 100), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key   string
		found bool
		want  float64 // the full key, and the reply unless it is empty
	}{{"hit", true, 2}, {"miss", false, 1}} {
		allocs := testing.AllocsPerRun(1000, func() {
			if _, ok, err := tier.Get(ctx, tc.key); err != nil || ok != tc.found {
				t.Fatalf("Get(%q) = %v, %v; want found %v", tc.key, ok, err, tc.found)
			}
		})
		if allocs > tc.want {
			t.Errorf("Get(%q): %v allocs/op; want %v", tc.key, allocs, tc.want)
		}
	}
}
