package loadtest_test

// The container setup is checked here, because no Docker engine runs where
// the tests do: docker-compose.yml is loaded by compose-go (the loader of
// Docker Compose itself), with schema validation and consistency checks, and
// its TIERCACHE_* variables go through tiercache's own flag set (parseConfig
// of package main, run as a helper process: see settingsOf). The Dockerfile
// and deploy/nginx.conf are read by small line parsers. It lives in the
// loadtest module, with the load-test stack, so that compose-go is no
// dependency of the root module.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/internal/redact"
)

const repoRoot = ".."

// composeEnv stands for the .env that .env.example tells users to make.
var composeEnv = map[string]string{
	"REDIS_PASSWORD":    "0123456789abcdef",
	"POSTGRES_PASSWORD": "fedcba9876543210",
}

// loadCompose loads docker-compose.yml as `docker compose --profile …` would,
// with env as the variables for interpolation (and nothing from the process
// environment or a local .env).
func loadCompose(env map[string]string, profiles ...string) (*types.Project, error) {
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv(vars),
		cli.WithProfiles(profiles),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// allProfiles loads every service of docker-compose.yml.
func allProfiles(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(composeEnv, "*")
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

// Each command the README gives must find a valid, consistent project.
func TestComposeLoads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profiles []string
		want     []string // services that must be enabled
	}{
		{nil, []string{"redis", "tiercache"}},
		{[]string{"loadtest"}, []string{"redis", "tiercache", "k6"}},
		{[]string{"postgres"}, []string{"redis", "tiercache", "postgres", "lb"}},
		{[]string{"proxy"}, []string{"redis", "tiercache", "proxy"}},
		{[]string{"*"}, []string{"redis", "tiercache", "k6", "postgres", "lb", "proxy"}},
	} {
		p, err := loadCompose(composeEnv, tc.profiles...)
		if err != nil {
			t.Errorf("profiles %q: docker-compose.yml does not load: %v", tc.profiles, err)
			continue
		}
		for _, name := range tc.want {
			if _, ok := p.Services[name]; !ok {
				t.Errorf("profiles %q: service %s is not enabled; got %v", tc.profiles, name, slices.Sorted(maps.Keys(p.Services)))
			}
		}
	}
}

// Redis and PostgreSQL never start without a password: compose stops with
// the message of ${VAR:?…} instead.
func TestComposeRequiresPasswords(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"REDIS_PASSWORD", "POSTGRES_PASSWORD"} {
		unset := maps.Clone(composeEnv)
		delete(unset, name)
		empty := maps.Clone(composeEnv)
		empty[name] = ""
		for how, env := range map[string]map[string]string{"unset": unset, "empty": empty} {
			// Every profile: compose interpolates the whole file, so plain
			// `docker compose up -d` needs both as well.
			for _, profiles := range [][]string{nil, {"*"}} {
				_, err := loadCompose(env, profiles...)
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("%s %s, profiles %q: got %v; want an error naming %s", name, how, profiles, err, name)
				}
			}
		}
	}
}

// acceptedEnv is every environment variable the binary reads: one per flag
// of the real flag set, named by envName; with proxy, of tiercache proxy's.
func acceptedEnv(t *testing.T, proxy bool) map[string]bool {
	t.Helper()
	var args []string
	if proxy {
		args = []string{"proxy"}
	}
	m := map[string]bool{}
	for _, k := range settingsOf(t, args, nil).Accepted {
		m[k] = true
	}
	return m
}

// isProxy reports whether service s runs tiercache proxy: its command
// (the arguments of the image's entrypoint) starts with the subcommand.
func isProxy(s types.ServiceConfig) bool {
	return len(s.Command) > 0 && s.Command[0] == "proxy"
}

// unknownEnv lists the TIERCACHE_* variables of s that tiercache ignores in
// the mode s runs it.
func unknownEnv(t *testing.T, s types.ServiceConfig) []string {
	t.Helper()
	accepted, help := acceptedEnv(t, isProxy(s)), "tiercache -h"
	if isProxy(s) {
		help = "tiercache proxy -h"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if strings.HasPrefix(k, "TIERCACHE_") && !accepted[k] {
			out = append(out, fmt.Sprintf("service %s sets %s, which is no flag's variable: tiercache ignores it (%s lists them)", s.Name, k, help))
		}
	}
	return out
}

// The proxy's variables are refused on a user service, and the store's on
// a proxy.
func TestComposeEnvironmentNamesPerMode(t *testing.T) {
	t.Parallel()
	service := func(name string, command []string, env ...string) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.Command = command
		s.Environment = types.NewMappingWithEquals(env)
		return s
	}
	for _, tc := range []struct {
		s    types.ServiceConfig
		want []string
	}{
		{service("u", nil, "TIERCACHE_STORE=memory", "TIERCACHE_ORIGIN=http://x:1"), []string{"TIERCACHE_ORIGIN"}},
		{service("p", []string{"proxy"}, "TIERCACHE_STORE=memory", "TIERCACHE_ORIGIN=http://x:1", "TIERCACHE_PURGE_TOKEN=t"),
			[]string{"TIERCACHE_STORE"}},
	} {
		got := unknownEnv(t, tc.s)
		if len(got) != len(tc.want) {
			t.Errorf("service %s: %q; want only %q refused", tc.s.Name, got, tc.want)
			continue
		}
		for i, name := range tc.want {
			if !strings.Contains(got[i], " sets "+name+",") {
				t.Errorf("service %s: %q; want %s refused", tc.s.Name, got[i], name)
			}
		}
	}
}

// Every TIERCACHE_* variable of every service is one the binary reads, in
// the mode the service runs it: the proxy's settings are no settings of
// the user service, and the store's are none of the proxy.
func TestComposeEnvironmentNames(t *testing.T) {
	t.Parallel()
	p := allProfiles(t)
	for _, s := range sortedServices(p) {
		for _, e := range unknownEnv(t, s) {
			t.Error(e)
		}
	}
	accepted := acceptedEnv(t, false)
	for _, kv := range parseDockerfile(t).final().env() {
		if strings.HasPrefix(kv[0], "TIERCACHE_") && !accepted[kv[0]] {
			t.Errorf("Dockerfile sets ENV %s, which is no flag's variable: tiercache ignores it", kv[0])
		}
	}
}

// tiercacheServices are the services built from the Dockerfile, with the
// configuration each one runs with: the image's ENV under the service's
// environment, parsed by parseConfig as at start-up (settingsOf).
func tiercacheServices(t *testing.T, p *types.Project) map[string]settings {
	t.Helper()
	imageEnv := map[string]string{}
	for _, kv := range parseDockerfile(t).final().env() {
		imageEnv[kv[0]] = kv[1]
	}
	m := map[string]settings{}
	built := 0
	for _, s := range sortedServices(p) {
		if s.Build == nil {
			continue
		}
		built++
		env := maps.Clone(imageEnv)
		for k, v := range s.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		c := settingsOf(t, s.Command, env)
		if c.Error != "" {
			t.Errorf("service %s: tiercache would not start: %s", s.Name, c.Error)
			continue
		}
		m[s.Name] = c
	}
	if built == 0 {
		t.Fatal("no service is built from the Dockerfile")
	}
	return m
}

// The values of the tiercache services are ones tiercache starts with, and
// point at the services of the file.
func TestComposeTiercacheConfig(t *testing.T) {
	t.Parallel()
	p := allProfiles(t)
	redisPass := requirePass(t, p.Services["redis"])
	keyspaces := map[string]string{} // Redis address, db and prefix → store
	cfgs := tiercacheServices(t, p)
	for _, name := range slices.Sorted(maps.Keys(cfgs)) {
		s, c := p.Services[name], cfgs[name]
		var level slog.Level
		if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			t.Errorf("service %s: TIERCACHE_LOG_LEVEL: %v", name, err)
		}

		// Redis: the compose service, with its password, waited for.
		if c.Redis == "off" {
			t.Errorf("service %s: TIERCACHE_REDIS_URL is off; want the redis service", name)
			continue
		}
		opt, err := rueidis.ParseURL(c.Redis)
		if err != nil {
			t.Errorf("service %s: TIERCACHE_REDIS_URL does not parse: %v", name, err)
			continue
		}
		redisHost := hostService(t, name, opt.InitAddress[0], p)
		if redisHost != "redis" {
			t.Errorf("service %s: TIERCACHE_REDIS_URL names %s; want the redis service", name, opt.InitAddress[0])
		}
		if opt.Password != redisPass {
			t.Errorf("service %s: TIERCACHE_REDIS_URL password is %q; want the redis service's requirepass %q", name, opt.Password, redisPass)
		}
		waitsHealthy(t, s, redisHost)
		ks := fmt.Sprintf("%s/%d/%s", opt.InitAddress[0], opt.SelectDB, c.RedisPrefix)
		store := redact.URL(c.Store)
		if c.Proxy {
			store = "origin " + c.Origin
		}
		if other, ok := keyspaces[ks]; ok && other != store {
			t.Errorf("service %s: its store %s shares the Redis keyspace %s with store %s; give it another TIERCACHE_REDIS_PREFIX",
				name, store, ks, other)
		}
		keyspaces[ks] = store

		// Store: persistent, and for PostgreSQL the compose service; for
		// a proxy, the origin: a tiercache service of the file.
		switch {
		case c.Proxy:
			checkProxyOrigin(t, p, cfgs, s, c.Origin)
		case strings.HasPrefix(c.Store, "bolt:"):
			file := strings.TrimPrefix(c.Store, "bolt:")
			if !path.IsAbs(file) || !hasNamedVolume(p, s, path.Dir(file)) {
				t.Errorf("service %s: TIERCACHE_STORE=%s; want a file on a named volume (the container is read-only and disposable)", name, c.Store)
			}
		case isPostgres(c.Store):
			checkPostgresStore(t, p, s, c.Store)
		default:
			t.Errorf("service %s: TIERCACHE_STORE=%s; want bolt:PATH on a volume or postgres://…", name, c.Store)
		}

		// Lifecycle.
		_, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			t.Errorf("service %s: TIERCACHE_LISTEN=%q: %v", name, c.Listen, err)
		}
		if c.Proxy {
			// /healthz would be the origin's.
			want := []string{"CMD", "/tiercache", "healthcheck", "-url", "http://127.0.0.1:" + port + "/_tiercache/healthz"}
			if s.HealthCheck == nil || s.HealthCheck.Disable || !slices.Equal(s.HealthCheck.Test, want) {
				t.Errorf("service %s: healthcheck %s; want test %q", name, healthTest(s), want)
			}
		} else if s.HealthCheck == nil || s.HealthCheck.Disable || !isTiercacheHealthcheck(s.HealthCheck.Test) {
			t.Errorf("service %s: healthcheck %s; want test [CMD /tiercache healthcheck]", name, healthTest(s))
		}
		if !slices.Contains([]string{"always", "unless-stopped", "on-failure"}, s.Restart) {
			t.Errorf("service %s: restart is %q; want a restart policy", name, s.Restart)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= c.ShutdownTimeout {
			t.Errorf("service %s: stop_grace_period is %v; want more than its shutdown timeout %v, or Docker kills it mid-shutdown",
				name, s.StopGracePeriod, c.ShutdownTimeout)
		}
		for _, pc := range s.Ports {
			if strconv.Itoa(int(pc.Target)) != port {
				t.Errorf("service %s: publishes container port %d; it listens on %s", name, pc.Target, c.Listen)
			}
		}
	}
}

// The rules of the issue, service by service.
func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := allProfiles(t)

	for _, s := range sortedServices(p) {
		if s.Build == nil {
			if err := pinned(s.Image); err != nil {
				t.Errorf("service %s: image %s", s.Name, err)
			}
		}
	}

	redis := p.Services["redis"]
	if !strings.HasPrefix(imageTag(redis.Image), "7.") {
		t.Errorf("redis: image %s; want a 7.x image", redis.Image)
	}
	for _, name := range []string{"redis", "postgres"} {
		if len(p.Services[name].Ports) > 0 {
			t.Errorf("%s: publishes %s; want it reachable on the compose network only", name, ports(p.Services[name]))
		}
		if hc := p.Services[name].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("%s: has no healthcheck; the services that depend on it wait for it to be healthy", name)
		}
	}
	if hc := redis.HealthCheck; hc != nil && !slices.Contains(hc.Test, "-a") {
		if v := redis.Environment["REDISCLI_AUTH"]; v == nil || *v != requirePass(t, redis) {
			t.Errorf("redis: the healthcheck does not authenticate (no -a, REDISCLI_AUTH is not the requirepass): it would never see PONG")
		}
	}

	tc := p.Services["tiercache"]
	if tc.Build == nil {
		t.Errorf("tiercache: not built from the Dockerfile")
	}
	if !publishes(tc, "5000") {
		t.Errorf("tiercache: publishes %s; want 5000", ports(tc))
	}
	if !hasNamedVolume(p, tc, "") {
		t.Errorf("tiercache: volumes %v; want a named volume for the embedded store", tc.Volumes)
	}

	proxy := p.Services["proxy"]
	if !slices.Equal(proxy.Profiles, []string{"proxy"}) || !isProxy(proxy) {
		t.Errorf("proxy: profiles %q, command %q; want only [proxy] and the proxy subcommand", proxy.Profiles, proxy.Command)
	}
	if len(proxy.Ports) != 1 {
		t.Errorf("proxy: publishes %s; want one port", ports(proxy))
	}
	published := map[string]string{}
	for _, s := range sortedServices(p) {
		for _, pc := range s.Ports {
			if other, ok := published[pc.Published]; ok {
				t.Errorf("services %s and %s both publish host port %s", other, s.Name, pc.Published)
			}
			published[pc.Published] = s.Name
		}
	}

	k6 := p.Services["k6"]
	if !slices.Equal(k6.Profiles, []string{"loadtest"}) {
		t.Errorf("k6: profiles %q; want only [loadtest]", k6.Profiles)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(imageTag(k6.Image)) {
		t.Errorf("k6: image %s; want an exact version, like grafana/k6:1.8.1", k6.Image)
	}
	for src, dst := range map[string]string{"loadtest/k6": "/scripts", "loadtest/scenarios.json": "/scenarios.json"} {
		if !mounts(k6, filepath.Join(absRoot(t), src), dst) {
			t.Errorf("k6: volumes %v; want ./%s mounted read-only on %s", k6.Volumes, src, dst)
		}
	}
	if v := k6.Environment["BASE_URL"]; v == nil {
		t.Errorf("k6: BASE_URL is not set; the scripts read it")
	} else if u, err := url.Parse(*v); err != nil || u.Scheme != "http" {
		t.Errorf("k6: BASE_URL=%q; want http://SERVICE:PORT", *v)
	} else {
		target := hostService(t, "k6", u.Host, p)
		waitsHealthy(t, k6, target)
		if target != "tiercache" || u.Port() != "5000" {
			t.Errorf("k6: BASE_URL=%s by default; want http://tiercache:5000", *v)
		}
	}

	var pg []string
	for name, c := range tiercacheServices(t, p) {
		if !c.Proxy && isPostgres(c.Store) && slices.Equal(p.Services[name].Profiles, []string{"postgres"}) {
			pg = append(pg, name)
		}
	}
	if len(pg) < 2 {
		t.Errorf("profile postgres runs %d tiercache instances on PostgreSQL (%v); want 2 or 3", len(pg), pg)
	}
	lb := p.Services["lb"]
	if len(lb.Ports) != 1 || publishes(lb, "5000") {
		t.Errorf("lb: publishes %s; want one port, not 5000 (the default instance has it)", ports(lb))
	}
	if hc := lb.HealthCheck; hc == nil || hc.Disable {
		t.Errorf("lb: no healthcheck")
	}
	for _, name := range pg {
		waitsHealthy(t, lb, name)
	}
}

// deploy/nginx.conf sends requests to exactly the PostgreSQL instances, on the
// port they listen on, and listens where lb publishes.
func TestComposeLoadBalancer(t *testing.T) {
	t.Parallel()
	p := allProfiles(t)
	lb := p.Services["lb"]
	var conf string
	for _, v := range lb.Volumes {
		if v.Target == "/etc/nginx/nginx.conf" {
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			conf = string(b)
		}
	}
	if conf == "" {
		t.Fatalf("lb: volumes %v; want a config mounted on /etc/nginx/nginx.conf", lb.Volumes)
	}
	var got, want []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+:\d+)`).FindAllStringSubmatch(conf, -1) {
		got = append(got, m[1])
	}
	for name, c := range tiercacheServices(t, p) {
		if slices.Contains(p.Services[name].Profiles, "postgres") {
			_, port, _ := net.SplitHostPort(c.Listen)
			want = append(want, name+":"+port)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("nginx.conf upstream servers are %v; want the instances of profile postgres %v", got, want)
	}
	listen := "nothing"
	if m := regexp.MustCompile(`(?m)^\s*listen\s+(\d+)\s*;`).FindStringSubmatch(conf); m != nil {
		listen = m[1]
	}
	if len(lb.Ports) != 1 || strconv.Itoa(int(lb.Ports[0].Target)) != listen {
		t.Errorf("nginx.conf listens on %s; lb publishes %s", listen, ports(lb))
	}
}

// checkProxyOrigin checks that a proxy's origin is http://SERVICE:PORT, a
// tiercache user service of p on the port it listens on, which the proxy
// waits for.
func checkProxyOrigin(t *testing.T, p *types.Project, cfgs map[string]settings, s types.ServiceConfig, origin string) {
	t.Helper()
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		t.Errorf("service %s: TIERCACHE_ORIGIN=%q; want http://SERVICE:PORT", s.Name, origin)
		return
	}
	host := hostService(t, s.Name, u.Host, p)
	waitsHealthy(t, s, host)
	oc, ok := cfgs[host]
	if !ok || oc.Proxy {
		t.Errorf("service %s: TIERCACHE_ORIGIN names %s, which is not a tiercache user service", s.Name, host)
		return
	}
	if _, port, _ := net.SplitHostPort(oc.Listen); port != u.Port() {
		t.Errorf("service %s: TIERCACHE_ORIGIN=%s; service %s listens on %s", s.Name, origin, host, oc.Listen)
	}
}

// requirePass is the --requirepass of the redis service's command.
func requirePass(t *testing.T, s types.ServiceConfig) string {
	t.Helper()
	i := slices.Index(s.Command, "--requirepass")
	if i < 0 || i+1 >= len(s.Command) || s.Command[i+1] == "" {
		t.Fatalf("redis: command %q has no --requirepass; want a password", s.Command)
	}
	return s.Command[i+1]
}

// checkPostgresStore checks that a postgres:// store names the postgres
// service with its user, password and database, and waits for it.
func checkPostgresStore(t *testing.T, p *types.Project, s types.ServiceConfig, store string) {
	t.Helper()
	pc, err := pgxpool.ParseConfig(store)
	if err != nil {
		t.Errorf("service %s: TIERCACHE_STORE does not parse: %v", s.Name, err)
		return
	}
	cc := pc.ConnConfig
	host := hostService(t, s.Name, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), p)
	waitsHealthy(t, s, host)
	env := p.Services[host].Environment
	for k, got := range map[string]string{"POSTGRES_USER": cc.User, "POSTGRES_PASSWORD": cc.Password, "POSTGRES_DB": cc.Database} {
		if v := env[k]; v == nil || *v != got {
			t.Errorf("service %s: TIERCACHE_STORE has %q where service %s has %s=%s", s.Name, got, host, k, deref(v))
		}
	}
}

// hostService returns the service that hostport names, failing the test if
// no service of p has that name.
func hostService(t *testing.T, from, hostport string, p *types.Project) string {
	t.Helper()
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if _, ok := p.Services[host]; !ok {
		t.Errorf("service %s: connects to %s, which is no service of docker-compose.yml", from, hostport)
	}
	return host
}

// waitsHealthy checks that s starts only once service dep is healthy.
func waitsHealthy(t *testing.T, s types.ServiceConfig, dep string) {
	t.Helper()
	if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("service %s: depends_on %s is %+v; want condition service_healthy", s.Name, dep, d)
	}
}

// hasNamedVolume reports whether s mounts a named volume of p on dir, or on
// any directory if dir is "".
func hasNamedVolume(p *types.Project, s types.ServiceConfig, dir string) bool {
	for _, v := range s.Volumes {
		if _, declared := p.Volumes[v.Source]; v.Type == types.VolumeTypeVolume && declared && (dir == "" || v.Target == dir) {
			return true
		}
	}
	return false
}

func mounts(s types.ServiceConfig, src, dst string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == src && v.Target == dst && v.ReadOnly {
			return true
		}
	}
	return false
}

func publishes(s types.ServiceConfig, port string) bool {
	for _, pc := range s.Ports {
		if pc.Published == port {
			return true
		}
	}
	return false
}

// ports lists the published ports of s as HOST:CONTAINER.
func ports(s types.ServiceConfig) string {
	var out []string
	for _, pc := range s.Ports {
		out = append(out, fmt.Sprintf("%s:%d", pc.Published, pc.Target))
	}
	return fmt.Sprint(out)
}

func healthTest(s types.ServiceConfig) string {
	switch {
	case s.HealthCheck == nil:
		return "is missing"
	case s.HealthCheck.Disable:
		return "is disabled"
	}
	return fmt.Sprintf("test is %q", []string(s.HealthCheck.Test))
}

func deref(v *string) string {
	if v == nil {
		return "(unset)"
	}
	return *v
}

func isTiercacheHealthcheck(test []string) bool {
	return len(test) == 3 && test[0] == "CMD" && (test[1] == "/tiercache" || test[1] == "tiercache") && test[2] == "healthcheck"
}

func sortedServices(p *types.Project) []types.ServiceConfig {
	var ss []types.ServiceConfig
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		ss = append(ss, p.Services[name])
	}
	return ss
}

func absRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// An image reference is pinned when it has a digest, or a tag naming a
// version; distroless images carry their Debian version in the name.
func pinned(ref string) error {
	if strings.Contains(ref, "@sha256:") {
		return nil
	}
	name, tag := splitImage(ref)
	switch {
	case tag == "" || tag == "latest":
		return fmt.Errorf("%s is not pinned: it means the latest image; want a version tag", ref)
	case strings.ContainsAny(tag, "0123456789"):
		return nil
	case regexp.MustCompile(`-debian\d+$`).MatchString(name):
		return nil
	}
	return fmt.Errorf("%s is not pinned: tag %q names no version", ref, tag)
}

// splitImage splits name:tag; a colon before the last slash is a registry port.
func splitImage(ref string) (name, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

func imageTag(ref string) string {
	_, tag := splitImage(ref)
	return tag
}

// dockerfile is the Dockerfile as stages of instructions, continuation lines
// joined and comments dropped. Enough for the checks below, not a full parser.
type dockerfile []stage

type stage struct {
	image, name string
	ins         []instruction
}

type instruction struct {
	cmd, args string // cmd in upper case
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var df dockerfile
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		cur = ""
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			var s stage
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) > 0 {
				s.image = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			df = append(df, s)
			continue
		}
		if len(df) == 0 {
			t.Fatalf("Dockerfile: %s before FROM", in.cmd)
		}
		df[len(df)-1].ins = append(df[len(df)-1].ins, in)
	}
	return df
}

func (df dockerfile) final() stage {
	if len(df) == 0 {
		return stage{}
	}
	return df[len(df)-1]
}

// all returns the arguments of every instruction cmd of the stage.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// env returns the stage's ENV settings as [key, value] pairs.
func (s stage) env() [][2]string {
	var out [][2]string
	for _, args := range s.all("ENV") {
		f := strings.Fields(args)
		if len(f) == 2 && !strings.Contains(f[0], "=") { // ENV KEY VALUE
			out = append(out, [2]string{f[0], f[1]})
			continue
		}
		for _, kv := range f {
			k, v, _ := strings.Cut(kv, "=")
			out = append(out, [2]string{k, strings.Trim(v, `"'`)})
		}
	}
	return out
}

// execForm decodes a JSON array of strings (the exec form); ok is false for
// the shell form.
func execForm(s string) (argv []string, ok bool) {
	return argv, json.Unmarshal([]byte(s), &argv) == nil && len(argv) > 0
}

func TestComposeDockerfile(t *testing.T) {
	t.Parallel()
	df := parseDockerfile(t)
	if len(df) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a runtime stage", len(df))
	}
	names := map[string]bool{}
	for _, s := range df {
		if !names[s.image] { // FROM an earlier stage needs no pin
			if err := pinned(s.image); err != nil {
				t.Errorf("Dockerfile: FROM %v", err)
			}
		}
		if s.name != "" {
			names[s.name] = true
		}
	}

	// The build: official Go image of go.mod's version, static and -trimpath.
	var build *stage
	var buildCmd string
	for i, s := range df {
		for _, r := range s.all("RUN") {
			if strings.Contains(r, "go build") && strings.Contains(r, "./cmd/tiercache") {
				build, buildCmd = &df[i], r
			}
		}
	}
	if build == nil {
		t.Fatal("Dockerfile: no RUN go build … ./cmd/tiercache")
	}
	name, tag := splitImage(build.image)
	goVersion := goDirective(t)
	if name != "golang" || (!strings.HasPrefix(tag, goVersion+".") && !strings.HasPrefix(tag, goVersion+"-") && tag != goVersion) {
		t.Errorf("Dockerfile: the build runs FROM %s; want the official golang image of go.mod's Go %s", build.image, goVersion)
	}
	cgoOff := strings.Contains(buildCmd, "CGO_ENABLED=0")
	for _, kv := range build.env() {
		cgoOff = cgoOff || kv == [2]string{"CGO_ENABLED", "0"}
	}
	if !cgoOff {
		t.Errorf("Dockerfile: go build runs without CGO_ENABLED=0; distroless static has no libc")
	}
	if !strings.Contains(buildCmd, "-trimpath") {
		t.Errorf("Dockerfile: go build %q has no -trimpath", buildCmd)
	}

	// The runtime: distroless static, non-root, exec-form entrypoint and
	// healthcheck on the same binary.
	final := df.final()
	if !strings.Contains(final.image, "distroless/static") {
		t.Errorf("Dockerfile: the final stage runs FROM %s; want a distroless static image", final.image)
	}
	users := final.all("USER")
	nonRoot := strings.HasSuffix(final.image, ":nonroot") || strings.Contains(final.image, ":nonroot@")
	if len(users) > 0 {
		u, _, _ := strings.Cut(users[len(users)-1], ":")
		nonRoot = u == "65532" || u == "nonroot"
	}
	if !nonRoot {
		t.Errorf("Dockerfile: the final stage runs as %v from %s; want USER 65532 (nonroot)", users, final.image)
	}
	eps := final.all("ENTRYPOINT")
	if len(eps) == 0 {
		t.Fatal("Dockerfile: no ENTRYPOINT in the final stage")
	}
	ep, ok := execForm(eps[len(eps)-1])
	if !ok || path.Base(ep[0]) != "tiercache" {
		t.Fatalf("Dockerfile: ENTRYPOINT %s; want the exec form [\"/tiercache\"] (distroless has no shell)", eps[len(eps)-1])
	}
	hcs := final.all("HEALTHCHECK")
	if len(hcs) == 0 {
		t.Fatal("Dockerfile: no HEALTHCHECK in the final stage")
	}
	f := strings.Fields(hcs[len(hcs)-1])
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		f = f[1:]
	}
	if len(f) < 2 || f[0] != "CMD" {
		t.Fatalf("Dockerfile: HEALTHCHECK %s; want CMD [\"%s\", \"healthcheck\"]", hcs[len(hcs)-1], ep[0])
	}
	argv, ok := execForm(strings.Join(f[1:], " "))
	if !ok || !slices.Equal(argv, []string{ep[0], "healthcheck"}) {
		t.Errorf("Dockerfile: HEALTHCHECK CMD %s; want the exec form [\"%s\", \"healthcheck\"]", strings.Join(f[1:], " "), ep[0])
	}

	// The store's directory belongs to the runtime user.
	chowned := false
	for _, c := range final.all("COPY") {
		chowned = chowned || strings.Contains(c, "--chown=65532")
	}
	if !chowned {
		t.Errorf("Dockerfile: no COPY --chown=65532 in the final stage; a new volume on /data would be root's")
	}
}

// goDirective returns major.minor of go.mod's go directive.
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			parts := strings.Split(strings.TrimSpace(v), ".")
			if len(parts) >= 2 {
				return parts[0] + "." + parts[1]
			}
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

// settings is what tiercache's parseConfig makes of a command line and an
// environment: helperConfig of cmd/tiercache/confighelper_test.go, which
// writes it.
type settings struct {
	Accepted        []string // the TIERCACHE_* variables of the mode
	Error           string   // parseConfig's error: tiercache would not start
	Proxy           bool
	Listen          string
	Redis           string
	RedisPrefix     string
	Store           string
	Origin          string
	LogLevel        string
	ShutdownTimeout time.Duration
}

// configHelperEnv names the file the helper writes settings to.
const configHelperEnv = "TIERCACHE_TEST_CONFIG_HELPER"

// helper is the test binary of cmd/tiercache, built once for the tests of
// this package (in a directory TestMain removes).
var helper struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if helper.dir != "" {
		_ = os.RemoveAll(helper.dir)
	}
	os.Exit(code)
}

// settingsOf returns the settings of tiercache run with args in env and
// nothing else: package main of the root module cannot be imported, so its
// test binary parses them (TestConfigHelper).
func settingsOf(t *testing.T, args []string, env map[string]string) settings {
	t.Helper()
	helper.once.Do(func() {
		if helper.dir, helper.err = os.MkdirTemp("", "compose-test-"); helper.err != nil {
			return
		}
		helper.bin = filepath.Join(helper.dir, "tiercache.test")
		cmd := exec.Command("go", "test", "-c", "-o", helper.bin, "./cmd/tiercache")
		cmd.Dir = repoRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			helper.err = fmt.Errorf("cannot build the test binary of cmd/tiercache: %w\n%s", err, b)
		}
	})
	if helper.err != nil {
		t.Fatal(helper.err)
	}
	out := filepath.Join(t.TempDir(), "settings.json")
	cmd := exec.Command(helper.bin, append([]string{"-test.run=^TestConfigHelper$", "--"}, args...)...)
	cmd.Env = []string{configHelperEnv + "=" + out}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("cmd/tiercache's TestConfigHelper wrote nothing: %v", err)
	}
	var s settings
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("cmd/tiercache's TestConfigHelper: %v", err)
	}
	return s
}

// isPostgres is cmd/tiercache's test of a PostgreSQL store.
func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}
