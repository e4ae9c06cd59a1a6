// Command report turns the results of `make bench` (bench/results: raw.txt,
// env.txt, redis-benchmark.txt, and loadtest/*.json when the load tests
// have run) into BENCHMARKS.md and its charts, so that the file is
// regenerated, never edited by hand.
//
//	go run ./bench/cmd/report [-results bench/results] [-o BENCHMARKS.md] [-charts bench/charts]
//
// Every number is the median of the repetitions (-count) of one benchmark;
// the n column says how many there were, and ± the largest deviation of one
// repetition from the median, in percent. Ratios to the bare handler are
// medians over medians from the same run.
//
// Under each table, a "What this means" paragraph is generated from the
// same numbers: a sentence that depends on the direction of a comparison
// is chosen by computing it, so that a new run cannot print a false one.
// The charts (PNG, gonum.org/v1/plot) are drawn deterministically: the same
// results give the same bytes.
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
	dir := fs.String("results", "bench/results", "directory written by `make bench`")
	out := fs.String("o", "BENCHMARKS.md", "output file; - for stdout")
	chartDir := fs.String("charts", "bench/charts", "directory of the charts (PNG) that the output embeds; empty for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := load(*dir)
	if err != nil {
		return err
	}
	if *chartDir != "" {
		files, err := writeCharts(*chartDir, charts(rep.r))
		if err != nil {
			return err
		}
		// Links are relative to the Markdown file (to the working
		// directory for stdout).
		base := "."
		if *out != "-" {
			base = filepath.Dir(*out)
		}
		rep.charts = make(map[string]string)
		for _, f := range files {
			link, err := filepath.Rel(base, filepath.Join(*chartDir, f))
			if err != nil {
				link = filepath.Join(*chartDir, f)
			}
			rep.charts[f] = filepath.ToSlash(link)
		}
	}
	doc := render(rep) + proxySection(*dir)
	if *out == "-" {
		_, err = io.WriteString(stdout, doc)
		return err
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", *out, err)
	}
	return nil
}

// load reads the results in dir.
func load(dir string) (report, error) {
	var rep report
	rawf, err := os.Open(filepath.Join(dir, "raw.txt"))
	if err != nil {
		return rep, fmt.Errorf("cannot read results: %w", err)
	}
	defer rawf.Close()
	if rep.r, err = parseRaw(rawf); err != nil {
		return rep, fmt.Errorf("cannot parse raw.txt: %w", err)
	}
	e, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		return rep, fmt.Errorf("cannot read results: %w", err)
	}
	rep.env = parseEnv(string(e))
	rb, _ := os.ReadFile(filepath.Join(dir, "redis-benchmark.txt")) // optional
	rep.redis, rep.redisNote = parseRedisBenchmark(string(rb))
	if rep.loads, err = readLoadRuns(filepath.Join(dir, "loadtest")); err != nil {
		return rep, err
	}
	return rep, nil
}
