package memory_test

import (
	"testing"

	"github.com/tiercache/tiercache/backends/memory"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
)

func TestShared(t *testing.T) {
	coretest.TestShared(t, func(*testing.T) (a, b core.Shared) {
		s := memory.New()
		return s.NewTier(), s.NewTier()
	})
}
