package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/bolt"
	"github.com/tiercache/tiercache/users/userstest"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// open opens a Store in a directory that does not exist yet and closes it
// when the test ends.
func open(t testing.TB) (*bolt.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "users.db")
	s, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatalf("Open: got %v; want nil", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestStore(t *testing.T) {
	userstest.TestStore(t, func(t *testing.T) users.Store {
		s, _ := open(t)
		return s
	})
}

func TestOpenNegativeMaxBatch(t *testing.T) {
	_, err := bolt.Open(filepath.Join(t.TempDir(), "users.db"), bolt.Config{MaxBatch: -1})
	if err == nil {
		t.Errorf("Open: got nil; want an error")
	}
}

// Concurrent writers must share commits. This holds without any delay in the
// writer: while it commits one batch (two fsyncs, at least about 100 µs on a
// disk), the other goroutines queue within microseconds and go into the next
// batch together; here it takes 1 to 7 commits, also with GOMAXPROCS=1.
// Only where fsync is free (TMPDIR on tmpfs) and with GOMAXPROCS=1 can every
// commit end before the next client runs, and this test fail: there is then
// no cost to share, and batching rightly does not happen.
func TestGroupCommit(t *testing.T) {
	s, _ := open(t)
	const n = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Create(t.Context(), user(i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Create %d: got %v; want nil", i, err)
		}
	}
	for i := range n {
		if _, err := s.Get(t.Context(), user(i).Name); err != nil {
			t.Errorf("Get %d: got %v; want nil", i, err)
		}
	}
	st := s.Stats()
	if st.Writes != n {
		t.Errorf("Writes: got %d; want %d", st.Writes, n)
	}
	if st.Commits > n/2 {
		t.Errorf("Commits: got %d; want at most %d for %d concurrent writes", st.Commits, n/2, n)
	}
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
}

// A caller whose ctx ends while its write is in flight gets an answer that
// matches the file: nil and a version mean written with that version, a ctx
// error means not written.
func TestCancelAnswerMatchesDisk(t *testing.T) {
	s, _ := open(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	versions := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			timeout := time.Duration(rand.IntN(3000)) * time.Microsecond
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			versions[i], errs[i] = s.Create(ctx, user(i))
		})
	}
	wg.Wait()
	var written, abandoned int
	for i, err := range errs {
		got, getErr := s.Get(t.Context(), user(i).Name)
		switch {
		case err == nil:
			written++
			if getErr != nil || got.Version != versions[i] || versions[i] == 0 {
				t.Errorf("Create %d returned %d, nil; Get: got version %d, %v; want %d, nil", i, versions[i], got.Version, getErr, versions[i])
			}
		case errors.Is(err, context.DeadlineExceeded):
			abandoned++
			if versions[i] != 0 {
				t.Errorf("Create %d returned %d, %v; want 0 with an error", i, versions[i], err)
			}
			if !errors.Is(getErr, core.ErrNotFound) {
				t.Errorf("Create %d returned %v; Get: got %v; want %v", i, err, getErr, core.ErrNotFound)
			}
		default:
			t.Errorf("Create %d: got %v; want nil or %v", i, err, context.DeadlineExceeded)
		}
	}
	t.Logf("%d written, %d abandoned", written, abandoned)
}

func TestReopen(t *testing.T) {
	s, path := open(t)
	const n = 10
	want := make([]users.User, n)
	for i := range n {
		want[i] = user(i)
		v, err := s.Create(t.Context(), want[i])
		if err != nil {
			t.Fatalf("Create: got %v; want nil", err)
		}
		want[i].Version = v
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v; want nil", err)
	}
	s = reopen(t, path)
	for i := range n {
		got, err := s.Get(t.Context(), want[i].Name)
		if err != nil || got != want[i] {
			t.Errorf("Get: got %+v, %v; want %+v, nil", got, err, want[i])
		}
	}
}

// The version sequence lives in the file, so a Store opened again goes on
// from where the last one stopped, for new names, for existing ones and for
// a name whose deletion was the last write before Close.
func TestVersionsAfterReopen(t *testing.T) {
	s, path := open(t)
	ctx := t.Context()
	var last uint64
	write := func(op string, v uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: got %v; want nil", op, err)
		}
		if v <= last {
			t.Errorf("%s: got version %d; want > %d", op, v, last)
		}
		last = v
	}
	for round := range 3 {
		v, err := s.Create(ctx, user(round))
		write(fmt.Sprintf("round %d: Create %s", round, user(round).Name), v, err)
		v, err = s.Create(ctx, user(100))
		write(fmt.Sprintf("round %d: Create user100", round), v, err)
		user0 := users.User{Name: "user0", Email: fmt.Sprintf("round%d@example.com", round)}
		user0.Version, err = s.Update(ctx, user0)
		write(fmt.Sprintf("round %d: Update user0", round), user0.Version, err)
		v, err = s.Delete(ctx, "user100")
		write(fmt.Sprintf("round %d: Delete user100", round), v, err)
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: got %v; want nil", round, err)
		}
		s = reopen(t, path)
		got, err := s.Get(ctx, "user0")
		if err != nil || got != user0 {
			t.Errorf("round %d: Get user0 after Open: got %+v, %v; want %+v, nil", round, got, err, user0)
		}
	}
}

// The record on disk is {"email":…,"username":…,"version":N}, and one
// written before versions existed reads as version 0 and is outranked by its
// next write.
func TestRecordFormat(t *testing.T) {
	s, path := open(t)
	u := users.User{Name: "kiran", Email: "<kiran>@example.com"}
	v, err := s.Create(t.Context(), u)
	if err != nil {
		t.Fatalf("Create: got %v; want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v; want nil", err)
	}

	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("bbolt.Open: got %v; want nil", err)
	}
	legacy := users.User{Name: "old", Email: "old@example.com"}
	var stored string
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("users"))
		stored = string(b.Get([]byte(u.Name)))
		return b.Put([]byte(legacy.Name), []byte(`{"email":"old@example.com","username":"old"}`))
	})
	if closeErr := db.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatalf("cannot edit the file: %v", err)
	}
	want := fmt.Sprintf(`{"email":"\u003ckiran\u003e@example.com","username":"kiran","version":%d}`, v)
	if stored != want {
		t.Errorf("stored record: got %s; want %s", stored, want)
	}

	s = reopen(t, path)
	got, err := s.Get(t.Context(), legacy.Name)
	if err != nil || got != legacy {
		t.Errorf("Get of a record without version: got %+v, %v; want %+v, nil", got, err, legacy)
	}
	updated, err := s.Update(t.Context(), users.User{Name: legacy.Name, Email: "new@example.com"})
	if err != nil || updated <= v {
		t.Errorf("Update of a record without version: got %d, %v; want > %d, nil", updated, err, v)
	}
}

// reopen opens the Store at path again and closes it when the test ends.
func reopen(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatalf("Open again: got %v; want nil", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// bbolt's flock belongs to the open file, so a second Store in the same
// process is refused just like another process would be.
func TestOpenLocked(t *testing.T) {
	s, path := open(t)
	begin := time.Now()
	s2, err := bolt.Open(path, bolt.Config{})
	if err == nil {
		s2.Close()
		t.Fatalf("second Open: got nil; want an error")
	}
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Errorf("second Open: got %v; want %v", err, berrors.ErrTimeout)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("second Open took %v; want at most 5s", d)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping of the first Store: got %v; want nil", err)
	}
}

// helperEnv carries the database path to TestHelperBoltWriter in a child
// process.
const helperEnv = "TIERCACHE_BOLT_HELPER_DB"

// Every write acknowledged before kill -9 must be in the file afterwards.
// The test binary re-runs itself as the writer, so that the kill hits a real
// process in the middle of its commits.
func TestDurableAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBoltWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the writer: %v", err)
	}

	acked := map[string]uint64{} // version by name
	first := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut short by the kill was not acknowledged
			}
			var name string
			var version uint64
			if _, err := fmt.Sscanf(line, "ack %s %d\n", &name, &version); err == nil {
				if len(acked) == 0 {
					close(first)
				}
				acked[name] = version
			}
		}
	}()
	select {
	case <-first:
	case <-eof:
	case <-time.After(10 * time.Second):
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("cannot kill the writer: %v", err)
	}
	<-eof // all reads are done before Wait, as os/exec requires
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer: got %v; want killed by SIGKILL; its stderr:\n%s", err, stderr.Bytes())
	}
	if len(acked) == 0 {
		t.Fatalf("the writer acknowledged nothing; its stderr:\n%s", stderr.Bytes())
	}

	s, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatalf("Open after kill: got %v; want nil", err)
	}
	defer s.Close()
	var maxAcked uint64
	for name, version := range acked {
		got, err := s.Get(t.Context(), name)
		if err != nil || got.Version != version {
			t.Errorf("Get %s, acknowledged with version %d before the kill: got version %d, %v; want %d, nil", name, version, got.Version, err, version)
		}
		maxAcked = max(maxAcked, version)
	}
	// The sequence was committed with the writes, so it did not go back.
	v, err := s.Create(t.Context(), user(0))
	if err != nil || v <= maxAcked {
		t.Errorf("Create after the kill: got %d, %v; want > %d, nil", v, err, maxAcked)
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
}

// TestHelperBoltWriter is the child process of TestDurableAfterKill. It
// creates users from 8 goroutines and prints "ack NAME VERSION" for each
// Create that returned nil, until it is killed or 10 seconds have passed.
func TestHelperBoltWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return // not the child
	}
	s, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex // one write per line, so that lines never interleave
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", g, i)
				v, err := s.Create(ctx, users.User{Name: name, Email: name + "@example.com"})
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("Create %s: %v", name, err)
					}
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "ack %s %d\n", name, v)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

func user(i int) users.User {
	name := fmt.Sprintf("user%d", i)
	return users.User{Name: name, Email: name + "@example.com"}
}

// A registration of a taken name is refused without a commit (no fsync).
func TestTakenNameCommitsNothing(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, users.User{Name: "kiran", Email: "kiran@example.com"}); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Commits
	for range 10 {
		if _, err := s.Create(ctx, users.User{Name: "kiran", Email: "other@example.com"}); !errors.Is(err, users.ErrExists) {
			t.Fatalf("second Create: got %v; want users.ErrExists", err)
		}
	}
	if got := s.Stats().Commits - before; got != 0 {
		t.Errorf("10 refused registrations committed %d times; want 0", got)
	}
	if u, err := s.Get(ctx, "kiran"); err != nil || u.Email != "kiran@example.com" {
		t.Errorf("after the refusals: got %+v, %v; want the first email", u, err)
	}
}
