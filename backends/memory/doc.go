// Package memory is a core.Shared in memory: the reference L2 that the
// suites run first, and the model that a new L2 backend is compared to.
//
// New returns the shared storage; each instance takes its own handle on it
// with NewTier, the way instances connect to one Redis. Every change of a
// key is reported to the invalidator of every handle, whether it read the
// key or not, before the write returns: the simplest feed that keeps
// core.Shared's promises. Versions order writes as in the Redis tier: an
// older version, or the same version with the same entry, is refused;
// the same version with another entry replaces the one held; Tier.Set
// stores version 0.
//
// Nothing leaves the process, so it suits tests and single-process
// experiments, not production.
package memory
