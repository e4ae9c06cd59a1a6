package memory_test

import (
	"testing"

	"github.com/tiercache/tiercache/backends/memory"
	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/core/coretest"
)

func TestStore(t *testing.T) {
	coretest.TestStore(t, func(*testing.T) core.Store { return memory.New() })
}
