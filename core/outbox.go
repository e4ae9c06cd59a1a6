package core

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outbox holds the L2 writes that failed (Redis down, breaker open, a
// barrier that timed out) and retries them until L2 takes them, so that
// another instance does not serve the old value for a whole TTL. Only the
// newest write per key is kept: writes are versioned, so a retry can never
// replace a newer value, and the order of retries does not matter.
//
// While a key is in the outbox this process reads it from the store,
// bypassing L2, which may still hold the old value (read-your-writes).
type outbox struct {
	shared   Shared
	log      *slog.Logger
	max      int
	interval time.Duration

	mu      sync.Mutex
	pending map[string]publication
	size    atomic.Int64 // len(pending), read without the lock on the miss path

	stop chan struct{}
	done chan struct{}
}

// publication is one L2 write.
type publication struct {
	val     []byte
	version uint64
	ttl     time.Duration
}

func newOutbox(shared Shared, log *slog.Logger, max int, interval time.Duration) *outbox {
	o := &outbox{
		shared: shared, log: log, max: max, interval: interval,
		pending: make(map[string]publication),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go o.run()
	return o
}

// has reports whether key has a write waiting for L2.
func (o *outbox) has(key string) bool {
	if o.size.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.pending[key]
	return ok
}

// put queues p for key unless a newer write of key is queued.
func (o *outbox) put(key string, p publication) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if cur, ok := o.pending[key]; ok {
		if cur.version < p.version {
			o.pending[key] = p
		}
		return
	}
	if len(o.pending) >= o.max {
		o.log.Error("L2 outbox full: a write was not queued; other instances may serve the old value until its TTL",
			"user", key, "max", o.max)
		return
	}
	if len(o.pending) == 0 {
		o.log.Warn("L2 cannot take writes: queuing them and retrying", "every", o.interval)
	}
	o.pending[key] = p
	o.size.Store(int64(len(o.pending)))
}

// done removes key if the write that landed is at least as new as the one
// queued.
func (o *outbox) landed(key string, version uint64) {
	if o.size.Load() == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if cur, ok := o.pending[key]; ok && cur.version <= version {
		delete(o.pending, key)
		o.size.Store(int64(len(o.pending)))
		if len(o.pending) == 0 {
			o.log.Info("L2 caught up: every queued write is published")
		}
	}
}

// run retries the queued writes every interval until close.
func (o *outbox) run() {
	defer close(o.done)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
		if o.size.Load() == 0 {
			continue
		}
		o.mu.Lock()
		batch := make(map[string]publication, len(o.pending))
		for k, p := range o.pending {
			batch[k] = p
		}
		o.mu.Unlock()
		for k, p := range batch {
			if _, err := o.shared.SetVersion(context.Background(), k, p.val, p.version, p.ttl); err != nil {
				break // still down: wait for the next tick
			}
			o.landed(k, p.version)
		}
	}
}

// close stops the retries and reports how many writes never reached L2.
func (o *outbox) close() int {
	close(o.stop)
	<-o.done
	return int(o.size.Load())
}
