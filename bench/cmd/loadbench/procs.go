package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tiercache/tiercache/internal/launch"
	"github.com/valyala/fasthttp"
)

// proc is a process this command started; stop stops it by its pid.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts bin with args on cpu (-1: anywhere), its output in
// dir/name.log, and waits until base+probe answers 200.
func startProc(name, dir string, cpu int, base, probe string, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
		bin = "taskset"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, _, err := get(base+probe, nil)
		if err == nil && status == 200 {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited at start-up; see %s", name, logf.Name())
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer %s within 30s: %v", name, base+probe, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM to the process's pid, and SIGKILL 10s later if it
// still runs.
func (p *proc) stop() {
	if p == nil {
		return
	}
	launch.Terminate(p.cmd.Process, syscall.SIGTERM, p.done)
}

// pinTree pins every thread of pid and of the processes it started to cpu.
func pinTree(pid, cpu int) error {
	if cpu < 0 {
		return nil
	}
	for _, p := range append([]int{pid}, launch.Descendants(pid)...) {
		out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(p)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset %d: %v: %s", p, err, out)
		}
	}
	return nil
}

var client = &fasthttp.Client{
	ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	MaxConnsPerHost: 64, NoDefaultUserAgentHeader: true,
}

// get sends a GET of url and returns the status, the value of header (nil:
// none asked) and the body.
func get(url string, header []byte) (int, string, []byte, error) {
	return do("GET", url, header)
}

func do(method, url string, header []byte) (int, string, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
		return 0, "", nil, err
	}
	var h string
	if header != nil {
		h = string(resp.Header.PeekBytes(header))
	}
	return resp.StatusCode(), h, append([]byte(nil), resp.Body()...), nil
}
