package redis_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/tiercache/tiercache/backends/redis"
)

// The tier's slot of a key is the cluster's (CLUSTER KEYSLOT), for plain
// keys, keys with hash tags, empty and unclosed braces; and each group's
// probe key lands in that group.
func TestKeySlotMatchesCluster(t *testing.T) {
	c := sharedCluster(t)
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("tiercache:user:name%d", i))
	}
	keys = append(keys, "", "{", "}", "{}", "a{}b", "a{b", "a}b{c}", "{x}{y}", "x{{y}}", "é{ü}",
		"tiercache:user:{tag}1", "tiercache:user:{tag}2", "\xff\x00\x80")
	for _, k := range keys {
		got, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", k)
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if want := strconv.Itoa(int(redis.KeySlot(k))); got != want {
			t.Errorf("KeySlot(%q) = %s; CLUSTER KEYSLOT says %s", k, want, got)
		}
	}

	tier := newTier(t, c, &recorder{})
	for g, k := range tier.ProbeKeys() {
		got, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", k)
		if err != nil {
			t.Fatal(err)
		}
		slot, _ := strconv.Atoi(got)
		if slot*redis.Groups/16384 != g {
			t.Errorf("probe key %q of group %d is in slot %d, of group %d", k, g, slot, slot*redis.Groups/16384)
		}
	}
}
