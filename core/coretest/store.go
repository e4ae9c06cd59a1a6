package coretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/core"
)

// TestStore runs the core.Store contract against the stores that open
// returns. Each call of open must return a new, empty store; TestStore closes
// it when the subtest ends. Subtests run in parallel, each on its own store.
func TestStore(t *testing.T, open func(t *testing.T) core.Store) {
	t.Helper()
	run := func(name string, f func(t *testing.T, s core.Store)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			// The result is checked by the Close subtest; here the store may
			// already be closed.
			t.Cleanup(func() { _ = s.Close() })
			f(t, s)
		})
	}

	run("GetMissing", func(t *testing.T, s core.Store) {
		if _, err := s.Get(t.Context(), "nobody"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Get: got %v; want %v", err, core.ErrNotFound)
		}
	})

	run("CreateThenGet", func(t *testing.T, s core.Store) {
		u := core.User{Name: "kiran", Email: "kiran@example.com"}
		mustCreate(t, s, u)
		wantUser(t, s, u)
	})

	run("CreateExisting", func(t *testing.T, s core.Store) {
		u := core.User{Name: "kiran", Email: "kiran@example.com"}
		mustCreate(t, s, u)
		err := s.Create(t.Context(), core.User{Name: "kiran", Email: "mallory@example.com"})
		if !errors.Is(err, core.ErrExists) {
			t.Errorf("second Create: got %v; want %v", err, core.ErrExists)
		}
		wantUser(t, s, u)
	})

	run("Update", func(t *testing.T, s core.Store) {
		mustCreate(t, s, core.User{Name: "kiran", Email: "kiran@example.com"})
		u := core.User{Name: "kiran", Email: "new@example.com"}
		if err := s.Update(t.Context(), u); err != nil {
			t.Fatalf("Update: got %v; want nil", err)
		}
		wantUser(t, s, u)
	})

	run("UpdateMissing", func(t *testing.T, s core.Store) {
		err := s.Update(t.Context(), core.User{Name: "nobody", Email: "nobody@example.com"})
		if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Update: got %v; want %v", err, core.ErrNotFound)
		}
		wantMissing(t, s, "nobody")
	})

	run("Delete", func(t *testing.T, s core.Store) {
		mustCreate(t, s, core.User{Name: "kiran", Email: "kiran@example.com"})
		if err := s.Delete(t.Context(), "kiran"); err != nil {
			t.Fatalf("Delete: got %v; want nil", err)
		}
		wantMissing(t, s, "kiran")
		if err := s.Delete(t.Context(), "kiran"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("second Delete: got %v; want %v", err, core.ErrNotFound)
		}
	})

	run("DeleteMissing", func(t *testing.T, s core.Store) {
		if err := s.Delete(t.Context(), "nobody"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Delete: got %v; want %v", err, core.ErrNotFound)
		}
	})

	run("CreateAfterDelete", func(t *testing.T, s core.Store) {
		mustCreate(t, s, core.User{Name: "kiran", Email: "old@example.com"})
		if err := s.Delete(t.Context(), "kiran"); err != nil {
			t.Fatalf("Delete: got %v; want nil", err)
		}
		u := core.User{Name: "kiran", Email: "new@example.com"}
		mustCreate(t, s, u)
		wantUser(t, s, u)
	})

	// The store must keep the email's bytes as given, whatever its
	// encoding has to escape.
	run("UnusualBytes", func(t *testing.T, s core.Store) {
		u := core.User{Name: "o.k_-1", Email: `"ünï \"cödé\" \\ <日本> &"@例え.jp`}
		mustCreate(t, s, u)
		wantUser(t, s, u)
	})

	// Uniqueness must be atomic: a check-then-insert store lets two of these
	// through.
	run("ConcurrentCreateSameName", func(t *testing.T, s core.Store) {
		const n = 64
		errs := make([]error, n)
		parallel(n, func(i int) {
			errs[i] = s.Create(t.Context(), core.User{Name: "kiran", Email: fmt.Sprintf("kiran%d@example.com", i)})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("Create %d and %d both succeeded; want one winner", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, core.ErrExists):
				t.Errorf("Create %d: got %v; want nil or %v", i, err, core.ErrExists)
			}
		}
		if winner < 0 {
			t.Fatalf("no Create succeeded; want one")
		}
		wantUser(t, s, core.User{Name: "kiran", Email: fmt.Sprintf("kiran%d@example.com", winner)})
	})

	run("ConcurrentCreateDistinct", func(t *testing.T, s core.Store) {
		const n = 200
		user := func(i int) core.User {
			return core.User{Name: fmt.Sprintf("user%03d", i), Email: fmt.Sprintf("user%03d@example.com", i)}
		}
		errs := make([]error, n)
		parallel(n, func(i int) { errs[i] = s.Create(t.Context(), user(i)) })
		for i, err := range errs {
			if err != nil {
				t.Errorf("Create %s: got %v; want nil", user(i).Name, err)
			}
		}
		for i := range n {
			wantUser(t, s, user(i))
		}
	})

	// A caller that has given up must not find its write applied later.
	run("CreateCancelled", func(t *testing.T, s core.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Create(ctx, core.User{Name: "kiran", Email: "kiran@example.com"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Create: got %v; want %v", err, context.Canceled)
		}
		wantMissing(t, s, "kiran")
	})

	run("Ping", func(t *testing.T, s core.Store) {
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: got %v; want nil", err)
		}
	})

	run("Close", func(t *testing.T, s core.Store) {
		mustCreate(t, s, core.User{Name: "kiran", Email: "kiran@example.com"})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: got %v; want nil", err)
		}
		ctx := t.Context()
		_, getErr := s.Get(ctx, "kiran")
		for _, c := range []struct {
			op  string
			err error
		}{
			{"Get", getErr},
			{"Create", s.Create(ctx, core.User{Name: "other", Email: "other@example.com"})},
			{"Update", s.Update(ctx, core.User{Name: "kiran", Email: "new@example.com"})},
			{"Delete", s.Delete(ctx, "kiran")},
			{"Ping", s.Ping(ctx)},
		} {
			if c.err == nil {
				t.Errorf("%s after Close: got nil; want an error", c.op)
			}
		}
		_ = s.Close() // a second Close may fail, but must not panic or hang
	})
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

func mustCreate(t *testing.T, s core.Store, u core.User) {
	t.Helper()
	if err := s.Create(t.Context(), u); err != nil {
		t.Fatalf("Create %s: got %v; want nil", u.Name, err)
	}
}

func wantUser(t *testing.T, s core.Store, want core.User) {
	t.Helper()
	got, err := s.Get(t.Context(), want.Name)
	if err != nil {
		t.Fatalf("Get %s: got %v; want nil", want.Name, err)
	}
	if got != want {
		t.Errorf("Get %s: got %q; want %q", want.Name, got, want)
	}
}

func wantMissing(t *testing.T, s core.Store, name string) {
	t.Helper()
	if _, err := s.Get(t.Context(), name); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get %s: got %v; want %v", name, err, core.ErrNotFound)
	}
}
