package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/core"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	errClosed  = errors.New("bolt: store closed")
	bucketName = []byte("users")
)

// lockTimeout bounds the wait for the file lock: another holder is a
// configuration mistake to report, not a state to wait out.
const lockTimeout = time.Second

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// MaxBatch caps the writes applied in one transaction, which bounds
	// the transaction's size and so its callers' wait. Default 1000: more
	// than the concurrent writers of one instance, so that normally every
	// queued write joins the next commit and the cap only matters in a flood.
	MaxBatch int
}

// Stats counts the writer's work since Open. Writes/Commits is the mean
// batch size.
type Stats struct {
	// Commits is the number of write transactions committed.
	Commits uint64
	// Writes is the number of Create, Update and Delete requests that
	// committed transactions decided, whatever their outcome.
	Writes uint64
}

// Store is a durable core.Store in one bbolt file. Its zero value is not
// usable; call Open. Emails must be valid UTF-8, as net/mail ensures:
// encoding/json would store invalid bytes as U+FFFD.
type Store struct {
	db       *bbolt.DB
	maxBatch int
	reqs     chan *request
	done     chan struct{} // closed when the writer has returned

	// mu orders sends on reqs before close(reqs): senders hold it shared,
	// Close exclusively, so no send can hit the closed channel.
	mu        sync.RWMutex
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	commits, writes atomic.Uint64
}

var _ core.Store = (*Store)(nil)

// Open opens or creates the Store in the file at path, creating its parent
// directory. It fails after about a second if another Store holds the file.
func Open(path string, cfg Config) (*Store, error) {
	if cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("bolt: MaxBatch %d is negative", cfg.MaxBatch)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 1000
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("bolt: cannot create directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: cannot open %s: locked by another Store, in this process or another: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: cannot open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		_ = db.Close() // the bucket error is the one to report
		return nil, fmt.Errorf("bolt: cannot create bucket in %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		maxBatch: cfg.MaxBatch,
		reqs:     make(chan *request, cfg.MaxBatch),
		done:     make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// record is the stored value of a user. JSON lets it gain fields without a
// migration.
type record struct {
	Email    string `json:"email"`
	Username string `json:"username"`
}

// Get returns the user, or core.ErrNotFound. It does not wait for the writer.
func (s *Store) Get(ctx context.Context, name string) (core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.User{}, err
	}
	if s.closed.Load() {
		return core.User{}, errClosed
	}
	var rec record
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketName).Get([]byte(name))
		if v == nil {
			return core.ErrNotFound
		}
		// Unmarshal copies: v is valid only inside the transaction.
		return json.Unmarshal(v, &rec)
	})
	if errors.Is(err, core.ErrNotFound) {
		return core.User{}, err
	}
	if err != nil {
		return core.User{}, fmt.Errorf("bolt: cannot get %q: %w", name, err)
	}
	return core.User{Name: name, Email: rec.Email}, nil
}

// Create adds u, or returns core.ErrExists. It returns nil once u is on disk.
func (s *Store) Create(ctx context.Context, u core.User) error {
	return s.write(ctx, opCreate, u)
}

// Update replaces the email of an existing user, or returns core.ErrNotFound.
// It returns nil once the change is on disk.
func (s *Store) Update(ctx context.Context, u core.User) error {
	return s.write(ctx, opUpdate, u)
}

// Delete removes a user, or returns core.ErrNotFound. It returns nil once the
// removal is on disk.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.write(ctx, opDelete, core.User{Name: name})
}

// Ping fails once s is closed or if its file lost the users bucket.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketName) == nil {
			return errors.New("no users bucket")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: cannot ping: %w", err)
	}
	return nil
}

// Close stops accepting calls, waits until the queued writes are committed
// and answered, and closes the file. Later calls, Close included, return the
// first Close's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		close(s.reqs)
		s.mu.Unlock()
		<-s.done
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("bolt: cannot close: %w", err)
		}
	})
	return s.closeErr
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

type op uint8

const (
	opCreate op = iota
	opUpdate
	opDelete
)

func (o op) String() string {
	return [...]string{"create", "update", "delete"}[o]
}

// States of a request. It moves from pending to taken (by the writer) or to
// abandoned (by its caller), never both: the CAS decides who was first.
const (
	pending int32 = iota
	taken
	abandoned
)

// request is one queued write. The writer sets err and then closes done.
type request struct {
	op    op
	key   []byte
	val   []byte // nil for delete
	state atomic.Int32
	err   error
	done  chan struct{}
}

// write queues a request for the writer and waits for its outcome.
func (s *Store) write(ctx context.Context, o op, u core.User) error {
	if err := ctx.Err(); err != nil {
		return err // never queued, so certainly not written
	}
	r := &request{op: o, key: []byte(u.Name), done: make(chan struct{})}
	if o != opDelete {
		val, err := json.Marshal(record{Email: u.Email, Username: u.Name})
		if err != nil {
			return fmt.Errorf("bolt: cannot encode %q: %w", u.Name, err)
		}
		r.val = val
	}
	if err := s.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		// Race with the writer, which CASes pending→taken before it
		// applies r. If we win, the writer skips r and nothing is written.
		// If it won, r is in a transaction whose outcome we must report.
		if r.state.CompareAndSwap(pending, abandoned) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// enqueue hands r to the writer, or fails if s is closed or ctx ends while
// the queue is full.
func (s *Store) enqueue(ctx context.Context, r *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return errClosed
	}
	select {
	case s.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer. It wakes on the first request, adds whatever else is
// already queued, and commits them together. It never waits for more
// requests to arrive: batches form because callers queue while a commit is
// in flight. It returns when Close has closed the queue and it is drained.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*request, 0, s.maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch) // let answered requests be collected
	}
}

// commit applies the requests that are still wanted in one transaction and
// answers them.
func (s *Store) commit(batch []*request) {
	reqs := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(pending, taken) {
			reqs = append(reqs, r)
		}
	}
	if len(reqs) == 0 {
		return
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, r := range reqs {
			r.err = apply(b, r)
		}
		return nil
	})
	if err == nil {
		s.commits.Add(1)
		s.writes.Add(uint64(len(reqs)))
	}
	for _, r := range reqs {
		if err != nil {
			r.err = fmt.Errorf("bolt: cannot commit %s of %q: %w", r.op, r.key, err)
		}
		close(r.done)
	}
}

// apply decides one request inside the writer's transaction, which sees the
// batch's earlier requests. bbolt's Put and Delete validate before they
// change anything, so a failed request leaves the transaction usable for the
// others.
func apply(b *bbolt.Bucket, r *request) error {
	exists := b.Get(r.key) != nil
	var err error
	switch {
	case r.op == opCreate && exists:
		return core.ErrExists
	case r.op != opCreate && !exists:
		return core.ErrNotFound
	case r.op == opDelete:
		err = b.Delete(r.key)
	default:
		err = b.Put(r.key, r.val)
	}
	if err != nil {
		return fmt.Errorf("bolt: cannot %s %q: %w", r.op, r.key, err)
	}
	return nil
}
