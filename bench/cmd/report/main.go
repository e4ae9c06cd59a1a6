// Command report turns bench/results into BENCHMARKS.md and its charts, so
// that the file is regenerated, never edited by hand:
//
//	go build -C bench -o ../bin/report ./cmd/report && bin/report [-results bench/results] [-o BENCHMARKS.md] [-charts bench/charts]
//
// The document opens with what tiercache buys (the origin alone against
// each cache in front of it), then answers one question per section with a
// table, a chart where a picture helps, and a caption that names the store
// or origin behind every number. A section whose input the run lacks says
// which make target produces it (see sections).
//
// Benchmark numbers are medians of the repetitions (-count) with ± the
// largest deviation of one repetition from the median; ratios divide
// medians of the same run. Benchmarks are found by the names that package
// bench exports, so renaming a sub-benchmark changes both sides at once.
// The charts (PNG, gonum.org/v1/plot) are deterministic: the same results
// give the same bytes.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("results", "bench/results", "directory of the results (bench/run.sh, bench/cmd/loadbench)")
	out := fs.String("o", "BENCHMARKS.md", "output file; - for stdout")
	chartDir := fs.String("charts", "bench/charts", "directory of the charts (PNG); empty for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := readInputs(*dir)
	if err != nil {
		return err
	}
	links := map[string]string{} // chart file → link from the document
	if *chartDir != "" {
		files, err := writeCharts(*chartDir, charts(in))
		if err != nil {
			return err
		}
		base := "."
		if *out != "-" {
			base = filepath.Dir(*out)
		}
		for _, f := range files {
			link, err := filepath.Rel(base, filepath.Join(*chartDir, f))
			if err != nil {
				link = filepath.Join(*chartDir, f)
			}
			links[f] = filepath.ToSlash(link)
		}
	}
	doc := render(in, links)
	if *out == "-" {
		_, err = io.WriteString(stdout, doc)
		return err
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", *out, err)
	}
	return nil
}
