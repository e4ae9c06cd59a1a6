package redis

// KeySlot is keySlot, for the tests against a real cluster.
func KeySlot(key string) uint16 { return keySlot(key) }

// Groups is the number of breakers of a Tier on a cluster.
const Groups = groups

// ProbeKeys returns the probe key of each group, in group order.
func (t *Tier) ProbeKeys() []string {
	keys := make([]string, groups)
	for i := range t.groups {
		keys[i] = t.groups[i].probeKey
	}
	return keys
}
