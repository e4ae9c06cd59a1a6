package main

import (
	"os"
	"path/filepath"
	"strings"
)

// proxySection renders the results of bench/cmd/loadbench (make
// bench-proxy) found in dir, or "" when there are none.
func proxySection(dir string) string {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b)) + "\n"
	}
	throughput, staleness := read("proxy.md"), read("proxy-staleness.md")
	if throughput == "" && staleness == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Proxy: tiercache, nginx and Varnish in front of one origin\n\n")
	b.WriteString("The origin is a Go HTTP server answering 1,000 URIs with about 200 bytes and `Cache-Control: max-age=3600`. " +
		"`bare` is a server that writes the bytes of a cached answer itself: the ceiling. " +
		"In `mixed`, the PUTs go through each proxy: tiercache invalidates the URI on every instance and fetches it again, " +
		"while nginx and Varnish keep serving the old answer until its max-age ends, so their lower origin counts are stale reads.\n\n")
	if throughput != "" {
		b.WriteString(throughput + "\n")
	}
	if staleness != "" {
		b.WriteString("### A write through one proxy, read through another\n\n")
		b.WriteString("Two tiercache proxies on one Redis: a PUT through A, then GETs through B until B answers the new body. " +
			"The time includes B's own fetch of the new answer from the origin.\n\n")
		b.WriteString(staleness)
	}
	return b.String()
}
