package userstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/core/coretest"
	"github.com/tiercache/tiercache/users"
)

// TestStore runs the users.Store contract against the stores that open
// returns. Each call of open must return a new, empty store; TestStore closes
// it when the subtest ends. Subtests run in parallel, each on its own store.
//
// Besides outcomes it checks versions: every write that succeeds returns a
// version greater than 0 and than every version the store returned before,
// Get returns the version of the user's last write, and a write that fails
// returns 0 and leaves the stored version alone. It also runs
// coretest.TestLoader on users.Loader of the store, with Create or Update as
// the write and Delete as the delete.
func TestStore(t *testing.T, open func(t *testing.T) users.Store) {
	t.Helper()
	run := func(name string, f func(t *testing.T, s users.Store)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			// The result is checked by the Close subtest; here the store may
			// already be closed.
			t.Cleanup(func() { _ = s.Close() })
			f(t, s)
		})
	}

	// Through users.Loader, the store keeps core.Loader's version
	// contract; its writes are the application's.
	t.Run("Loader", func(t *testing.T) {
		t.Parallel()
		coretest.TestLoader(t, func(t *testing.T) coretest.Source {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			return loaderSource(t.Context(), s)
		})
	})

	run("GetMissing", func(t *testing.T, s users.Store) {
		if _, err := s.Get(t.Context(), "nobody"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("Get: got %v; want %v", err, users.ErrNotFound)
		}
	})

	run("CreateThenGet", func(t *testing.T, s users.Store) {
		u := users.User{Name: "kiran", Email: "kiran@example.com"}
		u.Version = mustCreate(t, s, u)
		wantUser(t, s, u)
	})

	// The store gives versions; one passed in must not leak into them, or a
	// client could push a user's version out of the others' reach.
	run("WriteIgnoresGivenVersion", func(t *testing.T, s users.Store) {
		u := users.User{Name: "kiran", Email: "kiran@example.com", Version: math.MaxUint64}
		u.Version = mustCreate(t, s, u)
		if u.Version == math.MaxUint64 {
			t.Fatalf("Create: got version %d, the one passed in; want the store's own", u.Version)
		}
		wantUser(t, s, u)
		prev := u.Version
		u = users.User{Name: "kiran", Email: "new@example.com", Version: math.MaxUint64 - 1}
		u.Version = mustUpdate(t, s, u)
		wantNewer(t, "Update", u.Version, prev)
		wantUser(t, s, u)
	})

	run("CreateExisting", func(t *testing.T, s users.Store) {
		u := users.User{Name: "kiran", Email: "kiran@example.com"}
		u.Version = mustCreate(t, s, u)
		v, err := s.Create(t.Context(), users.User{Name: "kiran", Email: "mallory@example.com"})
		if !errors.Is(err, users.ErrExists) || v != 0 {
			t.Errorf("second Create: got %d, %v; want 0, %v", v, err, users.ErrExists)
		}
		wantUser(t, s, u)
	})

	run("Update", func(t *testing.T, s users.Store) {
		created := mustCreate(t, s, users.User{Name: "kiran", Email: "kiran@example.com"})
		u := users.User{Name: "kiran", Email: "new@example.com"}
		u.Version = mustUpdate(t, s, u)
		wantNewer(t, "Update", u.Version, created)
		wantUser(t, s, u)
	})

	run("UpdateMissing", func(t *testing.T, s users.Store) {
		v, err := s.Update(t.Context(), users.User{Name: "nobody", Email: "nobody@example.com"})
		if !errors.Is(err, users.ErrNotFound) || v != 0 {
			t.Errorf("Update: got %d, %v; want 0, %v", v, err, users.ErrNotFound)
		}
		wantMissing(t, s, "nobody")
	})

	run("Delete", func(t *testing.T, s users.Store) {
		created := mustCreate(t, s, users.User{Name: "kiran", Email: "kiran@example.com"})
		deleted := mustDelete(t, s, "kiran")
		wantNewer(t, "Delete", deleted, created)
		wantMissing(t, s, "kiran")
		// The "not found" is ordered after the delete.
		if u, _ := s.Get(t.Context(), "kiran"); u.Version < deleted {
			t.Errorf("Get after Delete: version %d; want at least the delete's %d", u.Version, deleted)
		}
		other := mustCreate(t, s, users.User{Name: "other", Email: "other@example.com"})
		if u, _ := s.Get(t.Context(), "never-registered"); u.Version < other {
			t.Errorf("Get of a missing user: version %d; want at least the latest write's %d", u.Version, other)
		}
		v, err := s.Delete(t.Context(), "kiran")
		if !errors.Is(err, users.ErrNotFound) || v != 0 {
			t.Errorf("second Delete: got %d, %v; want 0, %v", v, err, users.ErrNotFound)
		}
	})

	run("DeleteMissing", func(t *testing.T, s users.Store) {
		v, err := s.Delete(t.Context(), "nobody")
		if !errors.Is(err, users.ErrNotFound) || v != 0 {
			t.Errorf("Delete: got %d, %v; want 0, %v", v, err, users.ErrNotFound)
		}
	})

	// A name deleted and registered again keeps counting up, so that a
	// cache holding the old registration cannot mistake it for the new one.
	run("CreateAfterDelete", func(t *testing.T, s users.Store) {
		created := mustCreate(t, s, users.User{Name: "kiran", Email: "old@example.com"})
		updated := mustUpdate(t, s, users.User{Name: "kiran", Email: "older@example.com"})
		wantNewer(t, "Update", updated, created)
		deleted := mustDelete(t, s, "kiran")
		wantNewer(t, "Delete", deleted, updated)
		u := users.User{Name: "kiran", Email: "new@example.com"}
		u.Version = mustCreate(t, s, u)
		wantNewer(t, "second Create", u.Version, deleted)
		wantUser(t, s, u)
	})

	// Versions count across users: each write outranks every earlier write
	// of any user, and a write of one user leaves the others' versions alone.
	run("VersionsAcrossUsers", func(t *testing.T, s users.Store) {
		byName := map[string]users.User{}
		var last uint64
		step := func(op string, name string, v uint64) {
			t.Helper()
			wantNewer(t, op+" "+name, v, last)
			last = v
			for _, u := range byName {
				wantUser(t, s, u)
			}
		}
		for _, name := range []string{"ana", "bo", "cy"} {
			u := users.User{Name: name, Email: name + "@example.com"}
			u.Version = mustCreate(t, s, u)
			byName[name] = u
			step("Create", name, u.Version)
		}
		for _, name := range []string{"bo", "ana", "cy", "ana"} {
			u := users.User{Name: name, Email: fmt.Sprintf("%s%d@example.com", name, last)}
			u.Version = mustUpdate(t, s, u)
			byName[name] = u
			step("Update", name, u.Version)
		}
		delete(byName, "bo")
		step("Delete", "bo", mustDelete(t, s, "bo"))
		wantMissing(t, s, "bo")
		u := users.User{Name: "bo", Email: "bo2@example.com"}
		u.Version = mustCreate(t, s, u)
		byName["bo"] = u
		step("Create", "bo", u.Version)
	})

	// A refused write changes nothing, its version included.
	run("FailedWritesKeepVersion", func(t *testing.T, s users.Store) {
		u := users.User{Name: "kiran", Email: "kiran@example.com"}
		u.Version = mustCreate(t, s, u)
		ctx := t.Context()
		for _, c := range []struct {
			op    string
			write func() (uint64, error)
			want  error
		}{
			{"Create kiran", func() (uint64, error) {
				return s.Create(ctx, users.User{Name: "kiran", Email: "mallory@example.com"})
			}, users.ErrExists},
			{"Update nobody", func() (uint64, error) {
				return s.Update(ctx, users.User{Name: "nobody", Email: "nobody@example.com"})
			}, users.ErrNotFound},
			{"Delete nobody", func() (uint64, error) { return s.Delete(ctx, "nobody") }, users.ErrNotFound},
		} {
			v, err := c.write()
			if !errors.Is(err, c.want) || v != 0 {
				t.Errorf("%s: got %d, %v; want 0, %v", c.op, v, err, c.want)
			}
			wantUser(t, s, u)
		}
		next := mustUpdate(t, s, users.User{Name: "kiran", Email: "new@example.com"})
		wantNewer(t, "Update after the failures", next, u.Version)
	})

	// The store must keep the email's bytes as given, whatever its
	// encoding has to escape.
	run("UnusualBytes", func(t *testing.T, s users.Store) {
		u := users.User{Name: "o.k_-1", Email: `"ünï \"cödé\" \\ <日本> &"@例え.jp`}
		u.Version = mustCreate(t, s, u)
		wantUser(t, s, u)
	})

	// Uniqueness must be atomic: a check-then-insert store lets two of these
	// through.
	run("ConcurrentCreateSameName", func(t *testing.T, s users.Store) {
		const n = 64
		errs := make([]error, n)
		versions := make([]uint64, n)
		parallel(n, func(i int) {
			versions[i], errs[i] = s.Create(t.Context(), users.User{Name: "kiran", Email: fmt.Sprintf("kiran%d@example.com", i)})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("Create %d and %d both succeeded; want one winner", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, users.ErrExists) || versions[i] != 0:
				t.Errorf("Create %d: got %d, %v; want nil or 0, %v", i, versions[i], err, users.ErrExists)
			}
		}
		if winner < 0 {
			t.Fatalf("no Create succeeded; want one")
		}
		wantNewer(t, "Create", versions[winner], 0)
		wantUser(t, s, users.User{Name: "kiran", Email: fmt.Sprintf("kiran%d@example.com", winner), Version: versions[winner]})
	})

	// Writes that race each other still get distinct versions: a counter
	// read and bumped outside the store's lock would hand one out twice.
	run("ConcurrentCreateDistinct", func(t *testing.T, s users.Store) {
		const n = 200
		user := func(i int) users.User {
			return users.User{Name: fmt.Sprintf("user%03d", i), Email: fmt.Sprintf("user%03d@example.com", i)}
		}
		errs := make([]error, n)
		versions := make([]uint64, n)
		parallel(n, func(i int) { versions[i], errs[i] = s.Create(t.Context(), user(i)) })
		owner := make(map[uint64]int, n)
		for i, err := range errs {
			if err != nil {
				t.Errorf("Create %s: got %v; want nil", user(i).Name, err)
				continue
			}
			wantNewer(t, "Create "+user(i).Name, versions[i], 0)
			if j, ok := owner[versions[i]]; ok {
				t.Errorf("Create %s and %s: both got version %d; want distinct", user(j).Name, user(i).Name, versions[i])
			}
			owner[versions[i]] = i
		}
		for i := range n {
			u := user(i)
			u.Version = versions[i]
			wantUser(t, s, u)
		}
	})

	// Versions order the writes as the store applied them: of racing
	// updates, the one with the highest version is the one that stays.
	run("ConcurrentUpdateSameName", func(t *testing.T, s users.Store) {
		created := mustCreate(t, s, users.User{Name: "kiran", Email: "kiran@example.com"})
		const n = 64
		email := func(i int) string { return fmt.Sprintf("kiran%d@example.com", i) }
		errs := make([]error, n)
		versions := make([]uint64, n)
		parallel(n, func(i int) {
			versions[i], errs[i] = s.Update(t.Context(), users.User{Name: "kiran", Email: email(i)})
		})
		last := -1
		seen := make(map[uint64]bool, n)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Update %d: got %v; want nil", i, err)
			}
			wantNewer(t, fmt.Sprintf("Update %d", i), versions[i], created)
			if seen[versions[i]] {
				t.Errorf("Update %d: got version %d, already given; want distinct", i, versions[i])
			}
			seen[versions[i]] = true
			if last < 0 || versions[i] > versions[last] {
				last = i
			}
		}
		wantUser(t, s, users.User{Name: "kiran", Email: email(last), Version: versions[last]})
	})

	// A caller that has given up must not find its write applied later.
	// A miss is ordered before every write it did not see: the caches
	// store a "not found" with the miss's version, and a registration it
	// raced must still replace it.
	run("MissOrderedBeforeUnseenWrite", func(t *testing.T, s users.Store) {
		for round := range 100 {
			name := fmt.Sprintf("racer%d", round)
			var (
				created uint64
				miss    users.User
				missErr error
			)
			parallel(2, func(i int) {
				if i == 0 {
					created = mustCreate(t, s, users.User{Name: name, Email: name + "@example.com"})
					return
				}
				miss, missErr = s.Get(t.Context(), name)
			})
			if errors.Is(missErr, users.ErrNotFound) && created <= miss.Version {
				t.Fatalf("round %d: Get missed a Create yet returned version %d; the Create got %d, which must be larger",
					round, miss.Version, created)
			}
		}
	})

	run("CreateCancelled", func(t *testing.T, s users.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		v, err := s.Create(ctx, users.User{Name: "kiran", Email: "kiran@example.com"})
		if !errors.Is(err, context.Canceled) || v != 0 {
			t.Errorf("Create: got %d, %v; want 0, %v", v, err, context.Canceled)
		}
		wantMissing(t, s, "kiran")
	})

	run("Ping", func(t *testing.T, s users.Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: got %v; want nil", err)
		}
	})

	run("Close", func(t *testing.T, s users.Store) {
		mustCreate(t, s, users.User{Name: "kiran", Email: "kiran@example.com"})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: got %v; want nil", err)
		}
		ctx := t.Context()
		_, getErr := s.Get(ctx, "kiran")
		type result struct {
			version uint64
			err     error
		}
		write := func(v uint64, err error) result { return result{v, err} }
		for _, c := range []struct {
			op string
			result
		}{
			{"Get", result{0, getErr}},
			{"Create", write(s.Create(ctx, users.User{Name: "other", Email: "other@example.com"}))},
			{"Update", write(s.Update(ctx, users.User{Name: "kiran", Email: "new@example.com"}))},
			{"Delete", write(s.Delete(ctx, "kiran"))},
			{"Ping", result{0, s.Ping(ctx)}},
		} {
			if c.err == nil || c.version != 0 {
				t.Errorf("%s after Close: got %d, %v; want 0, an error", c.op, c.version, c.err)
			}
		}
		_ = s.Close() // a second Close may fail, but must not panic or hang
	})
}

// loaderSource is s as coretest.TestLoader sees it: a value is an email,
// and Write creates the user or updates it.
func loaderSource(ctx context.Context, s users.Store) coretest.Source {
	return coretest.Source{
		Loader: users.Loader(s),
		Write: func(name string, email []byte) (uint64, error) {
			u := users.User{Name: name, Email: string(email)}
			for {
				v, err := s.Update(ctx, u)
				if !errors.Is(err, users.ErrNotFound) {
					return v, err
				}
				v, err = s.Create(ctx, u)
				if !errors.Is(err, users.ErrExists) {
					return v, err
				}
			}
		},
		Delete: func(name string) (uint64, error) { return s.Delete(ctx, name) },
		Loaded: func(name string, email []byte) []byte {
			return users.User{Name: name, Email: string(email)}.AppendJSON(nil)
		},
	}
}

// parallel runs f(0) … f(n-1) in goroutines released together, so that they
// contend, and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// mustCreate, mustUpdate and mustDelete return the version of a write that
// must succeed.
func mustCreate(t *testing.T, s users.Store, u users.User) uint64 {
	t.Helper()
	v, err := s.Create(t.Context(), u)
	if err != nil {
		t.Fatalf("Create %s: got %v; want nil", u.Name, err)
	}
	return v
}

func mustUpdate(t *testing.T, s users.Store, u users.User) uint64 {
	t.Helper()
	v, err := s.Update(t.Context(), u)
	if err != nil {
		t.Fatalf("Update %s: got %v; want nil", u.Name, err)
	}
	return v
}

func mustDelete(t *testing.T, s users.Store, name string) uint64 {
	t.Helper()
	v, err := s.Delete(t.Context(), name)
	if err != nil {
		t.Fatalf("Delete %s: got %v; want nil", name, err)
	}
	return v
}

// wantNewer checks that a write's version outranks prev. Versions are never
// 0, the version of a value that a cache stored without one.
func wantNewer(t *testing.T, op string, got, prev uint64) {
	t.Helper()
	if got <= prev {
		t.Errorf("%s: got version %d; want > %d", op, got, prev)
	}
}

// wantUser checks that Get returns want, its version included.
func wantUser(t *testing.T, s users.Store, want users.User) {
	t.Helper()
	got, err := s.Get(t.Context(), want.Name)
	if err != nil {
		t.Fatalf("Get %s: got %v; want nil", want.Name, err)
	}
	if got != want {
		t.Errorf("Get %s: got %s; want %s", want.Name, format(got), format(want))
	}
}

// format shows u with its strings quoted, so that escapes are visible.
func format(u users.User) string {
	return fmt.Sprintf("{Name:%q Email:%q Version:%d}", u.Name, u.Email, u.Version)
}

func wantMissing(t *testing.T, s users.Store, name string) {
	t.Helper()
	if _, err := s.Get(t.Context(), name); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get %s: got %v; want %v", name, err, users.ErrNotFound)
	}
}
