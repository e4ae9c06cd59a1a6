//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit and returns
// the limits in force afterwards.
func raiseFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), fmt.Errorf("setrlimit: %w", err)
		}
		lim = raised
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}
