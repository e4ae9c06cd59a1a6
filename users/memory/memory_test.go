package memory_test

import (
	"testing"

	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/tiercache/tiercache/users/userstest"
)

func TestStore(t *testing.T) {
	userstest.TestStore(t, func(*testing.T) users.Store { return memory.New() })
}
