package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/core"
	"github.com/tiercache/tiercache/users"
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

// Store is a durable users.Store in one bbolt file. Its zero value is not
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

var _ users.Store = (*Store)(nil)

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

// record is the stored value of a user, {"email":…,"username":…,"version":N}.
// JSON lets it gain fields without a migration; a record written before
// versions existed reads as version 0, below every version given since.
//
// Version comes last and is omitted when 0 so that a caller can encode the
// rest of the record and leave the writer only the version to append: see
// encodeRecord and appendVersion.
type record struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Version  uint64 `json:"version,omitempty"`
}

// versionField is what appendVersion puts between the username and the
// number.
const versionField = `,"version":`

// encodeRecord returns u's record without its version and closing brace, with
// room for appendVersion to finish it without allocating. The caller encodes,
// so that the writer, through which all writes pass one at a time, only
// appends a number.
func encodeRecord(u users.User) ([]byte, error) {
	enc, err := json.Marshal(record{Email: u.Email, Username: u.Name})
	if err != nil {
		return nil, err
	}
	const room = len(versionField) + len("18446744073709551615}")
	return slices.Grow(enc[:len(enc)-1], room), nil
}

// appendVersion completes a record that encodeRecord began.
func appendVersion(prefix []byte, version uint64) []byte {
	val := append(prefix, versionField...)
	val = strconv.AppendUint(val, version, 10)
	return append(val, '}')
}

// Get returns the user with the version of its last write, or
// core.ErrNotFound. It does not wait for the writer.
func (s *Store) Get(ctx context.Context, name string) (users.User, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, err
	}
	if s.closed.Load() {
		return users.User{}, errClosed
	}
	var rec record
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		v := b.Get([]byte(name))
		if v == nil {
			// The latest version: a delete of name left nothing else.
			rec.Version = b.Sequence()
			return core.ErrNotFound
		}
		// Unmarshal copies: v is valid only inside the transaction.
		return json.Unmarshal(v, &rec)
	})
	if errors.Is(err, core.ErrNotFound) {
		return users.User{Version: rec.Version}, err
	}
	if err != nil {
		return users.User{}, fmt.Errorf("bolt: cannot get %q: %w", name, err)
	}
	return users.User{Name: name, Email: rec.Email, Version: rec.Version}, nil
}

// Create adds u, or returns users.ErrExists. It returns u's version and a nil
// error once u is on disk.
func (s *Store) Create(ctx context.Context, u users.User) (uint64, error) {
	// A name that is taken now is refused from a read: no commit, no fsync.
	// The writer checks again, so a name taken after this read is refused
	// too.
	if _, err := s.Get(ctx, u.Name); err == nil {
		return 0, users.ErrExists
	}
	return s.write(ctx, opCreate, u)
}

// Update replaces the email of an existing user, or returns core.ErrNotFound.
// It returns the new version and a nil error once the change is on disk.
func (s *Store) Update(ctx context.Context, u users.User) (uint64, error) {
	return s.write(ctx, opUpdate, u)
}

// Delete removes a user, or returns core.ErrNotFound. It returns the version
// of the removal and a nil error once the removal is on disk.
func (s *Store) Delete(ctx context.Context, name string) (uint64, error) {
	return s.write(ctx, opDelete, users.User{Name: name})
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

// request is one queued write. The writer sets version and err and then
// closes done.
type request struct {
	op      op
	key     []byte
	val     []byte // from encodeRecord; nil for delete
	state   atomic.Int32
	version uint64 // 0 unless err is nil
	err     error
	done    chan struct{}
}

// write queues a request for the writer and waits for its outcome.
func (s *Store) write(ctx context.Context, o op, u users.User) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err // never queued, so certainly not written
	}
	r := &request{op: o, key: []byte(u.Name), done: make(chan struct{})}
	if o != opDelete {
		val, err := encodeRecord(u)
		if err != nil {
			return 0, fmt.Errorf("bolt: cannot encode %q: %w", u.Name, err)
		}
		r.val = val
	}
	if err := s.enqueue(ctx, r); err != nil {
		return 0, err
	}
	select {
	case <-r.done:
		return r.version, r.err
	case <-ctx.Done():
		// Race with the writer, which CASes pending→taken before it
		// applies r. If we win, the writer skips r and nothing is written.
		// If it won, r is in a transaction whose outcome we must report.
		if r.state.CompareAndSwap(pending, abandoned) {
			return 0, ctx.Err()
		}
		<-r.done
		return r.version, r.err
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
			r.version, r.err = apply(b, r)
		}
		return nil
	})
	if err == nil {
		s.commits.Add(1)
		s.writes.Add(uint64(len(reqs)))
	}
	for _, r := range reqs {
		if err != nil {
			// The sequence rolled back with the transaction, so the
			// version that apply drew was never given.
			r.version = 0
			r.err = fmt.Errorf("bolt: cannot commit %s of %q: %w", r.op, r.key, err)
		}
		close(r.done)
	}
}

// apply decides one request inside the writer's transaction, which sees the
// batch's earlier requests, and returns the version it gave the request.
// bbolt's Put and Delete validate before they change anything, so a failed
// request leaves the transaction usable for the others.
//
// The version is the bucket's sequence, which bbolt stores in the bucket and
// so commits with the write: it keeps increasing across deletes, restarts and
// kill -9, and it is drawn in queue order, the order in which the requests
// are applied. A request refused with users.ErrExists or core.ErrNotFound
// draws none; one whose Put or Delete fails after the draw leaves a gap,
// which the contract allows.
func apply(b *bbolt.Bucket, r *request) (uint64, error) {
	exists := b.Get(r.key) != nil
	switch {
	case r.op == opCreate && exists:
		return 0, users.ErrExists
	case r.op != opCreate && !exists:
		return 0, core.ErrNotFound
	}
	version, err := b.NextSequence()
	switch {
	case err != nil:
	case r.op == opDelete:
		err = b.Delete(r.key)
	default:
		err = b.Put(r.key, appendVersion(r.val, version))
	}
	if err != nil {
		return 0, fmt.Errorf("bolt: cannot %s %q: %w", r.op, r.key, err)
	}
	return version, nil
}
