package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestMain lets the bench start this test binary as its Go origin, as it
// starts itself with -mode origin outside tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-mode" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// send sends method to url with a JSON body (none if "") and returns the
// status and the body, after the Cache-Control header if there is one.
func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	cc := resp.Header.Peek("Cache-Control")
	if len(cc) > 0 {
		return resp.StatusCode(), "Cache-Control: " + string(cc) + "\n" + string(resp.Body())
	}
	return resp.StatusCode(), string(resp.Body())
}

func TestFlaskOrigin(t *testing.T) {
	t.Chdir("../../..")
	c, err := parseFlags([]string{"-origin", "flask", "-keys", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, dir: t.TempDir()}
	defer e.close()
	url, _, err := e.startOrigin("flask", -1)
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path, body string, wantStatus int, want string) {
		t.Helper()
		status, got := send(t, method, url+path, body)
		if status != wantStatus || !strings.Contains(got, want) {
			t.Errorf("%s %s: got %d %s; want %d with %s", method, path, status, got, wantStatus, want)
		}
	}
	check("GET", "/user/user2", "", 200, `"email":"user2@example.com"`)
	check("GET", "/user/user3", "", 404, "User not found.")
	check("POST", "/register", `{"username":"kiran","email":"kiran@example.com"}`, 200, "registered successfully")
	check("GET", "/user/kiran", "", 200, `"email":"kiran@example.com"`)
	check("POST", "/register", `{"email":"x@example.com"}`, 400, "required")
	check("PUT", "/user/kiran", `{"email":"new@example.com"}`, 200, "updated")
	check("GET", "/user/kiran", "", 200, `"email":"new@example.com"`)
	check("PUT", "/user/nobody", `{"email":"new@example.com"}`, 404, "User not found.")
	// As the service it stands for, the app leaves freshness to the proxy.
	if status, got := send(t, "GET", url+"/user/user0", ""); status != 200 || strings.HasPrefix(got, "Cache-Control") {
		t.Errorf("GET /user/user0: got %d %s; want 200 without Cache-Control", status, got)
	}
	n, err := originRequests(url)
	if err != nil || n != 9 {
		t.Errorf("origin requests = %d, %v; want 9", n, err)
	}
}

// TestBenchFlask runs the bench on tiny settings with the Flask origin.
func TestBenchFlask(t *testing.T) {
	t.Chdir("../../..")
	out := filepath.Join(t.TempDir(), "proxy-flask.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := run(ctx, []string{"-origin", "flask", "-rounds", "1", "-duration", "1s", "-keys", "50", "-connections", "8",
		"-wait-quiet", "0s", "-server-cpu", "-1", "-load-cpu", "-1", "-origin-cpu", "-1", "-out", out}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Config  map[string]any
		Summary []row
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &report); err != nil {
		t.Fatal(err)
	}
	if report.Config["origin"] != "flask" {
		t.Errorf("config origin = %v", report.Config["origin"])
	}
	got := map[string]row{}
	for _, r := range report.Summary {
		got[r.Target+" "+r.Workload] = r
		if r.RPS <= 0 {
			t.Errorf("%s %s: %v req/s", r.Target, r.Workload, r.RPS)
		}
	}
	for _, target := range flaskTargets {
		for _, w := range allWorkloads {
			if _, ok := got[target+" "+w]; !ok {
				t.Errorf("no row for %s %s", target, w)
			}
		}
	}
	origin, tiercache := got["origin hit"].OriginPer1000, got["tiercache hit"].OriginPer1000
	if origin < 900 || tiercache > origin/10 {
		t.Errorf("origin requests per 1,000 on hits: origin %v, tiercache %v; want about 1,000 and far fewer", origin, tiercache)
	}
	md, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".md")
	if err != nil || !strings.Contains(string(md), "`-default-ttl 3600s`") || !strings.Contains(string(md), "| tiercache | hit |") {
		t.Errorf("markdown: %v\n%s", err, md)
	}
}
