package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what parseWrk reads from the output of wrk --latency.
type wrkResult struct {
	Requests     int64         `json:"requests"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	RPS          float64       `json:"rps"`
	P50          time.Duration `json:"p50_ns"`
	P75          time.Duration `json:"p75_ns"`
	P90          time.Duration `json:"p90_ns"`
	P99          time.Duration `json:"p99_ns"`
	Non2xx3xx    int64         `json:"non_2xx_3xx"`
	SocketErrors int64         `json:"socket_errors"`
}

var (
	reRequests = regexp.MustCompile(`^\s*(\d+) requests in ([\d.]+[a-z]+),`)
	reRPS      = regexp.MustCompile(`^Requests/sec:\s+([\d.]+)`)
	rePct      = regexp.MustCompile(`^\s*(50|75|90|99)%\s+([\d.]+[a-z]+)\s*$`)
	reNon2xx   = regexp.MustCompile(`^\s*Non-2xx or 3xx responses: (\d+)`)
	reSocket   = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk parses the summary that wrk --latency prints.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var err error
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case reRequests.MatchString(line):
			m := reRequests.FindStringSubmatch(line)
			r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
			r.Elapsed, err = wrkDuration(m[2])
			seen["requests"] = true
		case reRPS.MatchString(line):
			r.RPS, err = strconv.ParseFloat(reRPS.FindStringSubmatch(line)[1], 64)
			seen["rps"] = true
		case rePct.MatchString(line):
			m := rePct.FindStringSubmatch(line)
			d, perr := wrkDuration(m[2])
			err = perr
			switch m[1] {
			case "50":
				r.P50 = d
			case "75":
				r.P75 = d
			case "90":
				r.P90 = d
			case "99":
				r.P99 = d
			}
			seen[m[1]] = true
		case reNon2xx.MatchString(line):
			r.Non2xx3xx, _ = strconv.ParseInt(reNon2xx.FindStringSubmatch(line)[1], 10, 64)
		case reSocket.MatchString(line):
			for _, s := range reSocket.FindStringSubmatch(line)[1:] {
				n, _ := strconv.ParseInt(s, 10, 64)
				r.SocketErrors += n
			}
		}
		if err != nil {
			return r, fmt.Errorf("wrk output: %q: %w", line, err)
		}
	}
	for _, k := range []string{"requests", "rps", "50", "99"} {
		if !seen[k] {
			return r, fmt.Errorf("wrk output has no %s line (was --latency given?)", k)
		}
	}
	return r, nil
}

// wrkDuration parses one of wrk's times: 812.00us, 1.20ms, 10.00s, 1.00m.
func wrkDuration(s string) (time.Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	if i <= 0 {
		return 0, fmt.Errorf("no unit in %q", s)
	}
	unit, ok := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
		"m": time.Minute, "h": time.Hour}[s[i:]]
	if !ok {
		return 0, fmt.Errorf("unknown unit in %q", s)
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(math.Round(f * float64(unit))), nil
}

// wrkScript is the Lua script of a workload: GETs of the keys prefix+N in
// turn and, in the mixed workload, a share of PUTs of putBody to random keys.
func wrkScript(keys int, putPercent float64, prefix, putBody string) string {
	return fmt.Sprintf(`local keys, put, prefix, body = %d, %g, %q, %q
local gets, puts = {}, {}
local n = 0
-- wrk.format needs the URL's Host, which init has and the top level not.
init = function(args)
  for i = 0, keys - 1 do
    gets[i] = wrk.format("GET", prefix .. i)
    puts[i] = wrk.format("PUT", prefix .. i, {["Content-Type"] = "application/json"}, body)
  end
  math.randomseed(1)
end
request = function()
  n = n + 1
  if put > 0 and math.random() * 100 < put then
    return puts[math.random(0, keys - 1)]
  end
  return gets[n %% keys]
end
`, keys, putPercent, prefix, putBody)
}

// runWrk runs wrk with script against url on cpu and parses its summary.
func runWrk(ctx context.Context, c config, cpu int, script, url string) (wrkResult, error) {
	args := []string{"-t" + strconv.Itoa(c.threads), "-c" + strconv.Itoa(c.connections),
		"-d" + strconv.Itoa(int(c.duration.Seconds())) + "s", "--latency", "-s", script, url}
	bin := "wrk"
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
		bin = "taskset"
	}
	ctx, cancel := context.WithTimeout(ctx, c.duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, stderr.String())
	}
	return parseWrk(string(out))
}

// writeScripts writes the workloads' scripts in dir and returns their paths.
func writeScripts(dir string, c config) (map[string]string, error) {
	paths := map[string]string{}
	for w, put := range map[string]float64{"hit": 0, "mixed": c.putPercent} {
		p := filepath.Join(dir, w+".lua")
		if err := os.WriteFile(p, []byte(wrkScript(c.keys, put, c.itemPrefix(), c.putBody())), 0o644); err != nil {
			return nil, err
		}
		paths[w] = p
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return nil, errors.New("wrk not found; install it (Debian: apt-get install wrk) or run make deps")
	}
	return paths, nil
}
