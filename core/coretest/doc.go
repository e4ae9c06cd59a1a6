// Package coretest holds the conformance suites for the interfaces of core.
//
// Every implementation runs the same suite from its own tests, so that a
// backend cannot drift from the contract that core relies on:
//
//	func TestStore(t *testing.T) {
//		coretest.TestStore(t, func(t *testing.T) users.Store { return memory.New() })
//	}
//
// The suites use only the standard testing package and the interface under
// test; they know nothing of any backend.
package coretest
