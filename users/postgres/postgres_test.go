package postgres_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/postgres"
	"github.com/tiercache/tiercache/users/userstest"
)

// pg is the package's one server; each test opens its own database on it.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// open opens a Store on url and closes it when the test ends.
func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, postgres.Config{})
	if err != nil {
		t.Fatalf("Open: got %v; want nil", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	userstest.TestStore(t, func(t *testing.T) users.Store {
		return open(t, pgtest.NewDatabase(t, pg.Start(t)))
	})
}

func TestOpenNegativeTimeout(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://127.0.0.1:1/x", postgres.Config{QueryTimeout: -1})
	if err == nil {
		t.Errorf("Open: got nil; want an error")
	}
}

// Instances that start together on a new database all create the schema:
// without the advisory lock, concurrent CREATE TABLE IF NOT EXISTS fails
// with a duplicate key in the catalog.
func TestConcurrentOpen(t *testing.T) {
	const n = 3
	for round := range 5 {
		url := pgtest.NewDatabase(t, pg.Start(t))
		stores := make([]*postgres.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = postgres.Open(t.Context(), url, postgres.Config{})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: Open %d: got %v; want nil", round, i, err)
			}
			t.Cleanup(func() { _ = stores[i].Close() })
		}
		// They share one table and one sequence.
		v, err := stores[0].Create(t.Context(), users.User{Name: "kiran", Email: "kiran@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if u, err := stores[n-1].Get(t.Context(), "kiran"); err != nil || u.Version != v {
			t.Errorf("round %d: Get from another Store: got %+v, %v; want version %d, nil", round, u, err, v)
		}
	}
}

// Of a Delete and a re-Create of one name that race, from two Stores (as
// from two instances), the one that commits last must carry the larger
// version, or caches would keep the other. The final state tells which
// committed last: a user means the Create did, "not found" the Delete.
func TestDeleteRacesCreate(t *testing.T) {
	url := pgtest.NewDatabase(t, pg.Start(t))
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	const name = "kiran"
	var both, createLost int
	for round := range 300 {
		created, err := a.Create(ctx, users.User{Name: name, Email: fmt.Sprintf("%d@example.com", round)})
		if err != nil {
			t.Fatalf("round %d: setup Create: got %v; want nil", round, err)
		}
		var deleted, recreated uint64
		var delErr, createErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; deleted, delErr = a.Delete(ctx, name) })
		wg.Go(func() {
			<-start
			recreated, createErr = b.Create(ctx, users.User{Name: name, Email: fmt.Sprintf("new%d@example.com", round)})
		})
		close(start)
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: Delete: got %v; want nil", round, delErr)
		}
		if createErr != nil && !errors.Is(createErr, users.ErrExists) {
			t.Fatalf("round %d: Create: got %v; want nil or %v", round, createErr, users.ErrExists)
		}
		if createErr == nil {
			both++
		} else {
			createLost++
		}
		last := max(created, deleted, recreated) // recreated is 0 if it failed
		got, err := a.Get(ctx, name)
		switch {
		case err == nil: // the Create committed last
			if got.Version != last || got.Version != recreated {
				t.Fatalf("round %d: user %+v after Delete (version %d) and Create (version %d); want version %d, the Create's and the largest",
					round, got, deleted, recreated, last)
			}
			if _, err := a.Delete(ctx, name); err != nil {
				t.Fatalf("round %d: cleanup Delete: got %v; want nil", round, err)
			}
		case errors.Is(err, core.ErrNotFound): // the Delete committed last
			if last != deleted {
				t.Fatalf("round %d: no user after Delete (version %d) and Create (version %d); want the Delete's version to be the largest",
					round, deleted, recreated)
			}
			if got.Version < last {
				t.Fatalf("round %d: Get's version after the writes: got %d; want at least %d", round, got.Version, last)
			}
		default:
			t.Fatalf("round %d: Get: got %v", round, err)
		}
	}
	t.Logf("rounds where both writes succeeded: %d; where the Create found the user still there: %d", both, createLost)
}

// A Get that misses a name must return a version below that of every write
// of the name that it did not see, or a cache that stores the "not found"
// with its version would refuse the write when it arrives. Versions are
// drawn before commit, so the sequence's last value alone is not enough: it
// may count the draw of a write still in flight.
func TestMissBelowLaterWrite(t *testing.T) {
	url := pgtest.NewDatabase(t, pg.Start(t))
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	var misses int
	for round := range 300 {
		name := fmt.Sprintf("user%d", round)
		var created uint64
		var got users.User
		var createErr, getErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			created, createErr = a.Create(ctx, users.User{Name: name, Email: name + "@example.com"})
		})
		wg.Go(func() { <-start; got, getErr = b.Get(ctx, name) })
		close(start)
		wg.Wait()
		if createErr != nil {
			t.Fatalf("round %d: Create: got %v; want nil", round, createErr)
		}
		switch {
		case getErr == nil:
			if got.Version != created {
				t.Fatalf("round %d: Get: got version %d; want the Create's %d", round, got.Version, created)
			}
		case errors.Is(getErr, core.ErrNotFound):
			misses++
			if got.Version >= created {
				t.Fatalf("round %d: Get missed with version %d, but the Create it did not see has version %d; want the miss below it",
					round, got.Version, created)
			}
		default:
			t.Fatalf("round %d: Get: got %v", round, getErr)
		}
	}
	t.Logf("%d of 300 Gets missed", misses)
}
