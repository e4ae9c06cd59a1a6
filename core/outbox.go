package core

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outbox holds the keys whose last write L2 did not take (Redis down, the
// breaker open, a barrier that timed out) and republishes them until L2
// takes them, so that other instances do not serve the replaced value for a
// whole TTL. A retry reloads the key from the store and writes what it finds
// with its version: it never replays an old value, so it cannot bring back a
// value deleted meanwhile, and the order of retries does not matter.
//
// While a key is in the outbox, this process reads it from the store,
// bypassing L2, which may still hold the replaced value (read-your-writes).
//
// The outbox also takes the keys written recently when L2 reports that it
// may have lost writes it acknowledged (reportLoss): the report may come
// from a connection's reader, which must not wait, so it only sets a flag,
// and the next pass queues the keys.
type outbox struct {
	republish func(key string) error
	recent    *recent // the keys to queue again on a loss report
	log       *slog.Logger
	max       int
	interval  time.Duration
	lost      atomic.Bool // a loss was reported since the last pass

	mu       sync.Mutex
	keys     map[string]uint64 // key → times queued, so a retry that raced a new failure keeps the key
	overflow bool              // logged that the outbox is full, since it last drained
	size     atomic.Int64      // len(keys), read without the lock on the miss path

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newOutbox(republish func(string) error, recent *recent, log *slog.Logger, max int, interval time.Duration) *outbox {
	o := &outbox{
		republish: republish, recent: recent, log: log, max: max, interval: interval,
		keys: make(map[string]uint64),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go o.run()
	return o
}

// has reports whether key waits to be republished.
func (o *outbox) has(key string) bool {
	if o.size.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.keys[key]
	return ok
}

// len is the number of keys waiting.
func (o *outbox) len() int { return int(o.size.Load()) }

// reportLoss makes the next pass queue every key written within the
// recent window. It does not block.
func (o *outbox) reportLoss() { o.lost.Store(true) }

// requeue queues the recent keys if a loss was reported.
func (o *outbox) requeue() {
	if !o.lost.Swap(false) {
		return
	}
	keys, dropped := o.recent.keys()
	if len(keys) == 0 {
		return
	}
	o.log.Warn("L2 may have lost writes it acknowledged: republishing the keys written recently",
		"keys", len(keys), "window", o.recent.window)
	if dropped {
		o.log.Error("more keys were written within the window than are kept: the oldest of them are not republished; other instances may serve their old values until their TTL",
			"max", o.recent.max)
	}
	for _, k := range keys {
		o.add(k)
	}
}

// put queues key. When the outbox is full the key is not queued and other
// instances may serve its replaced value until the TTL; that is logged once
// per episode.
func (o *outbox) put(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.keys) == 0 {
		o.log.Warn("L2 did not take a write: queuing failed writes and retrying", "every", o.interval)
	}
	o.addLocked(key)
}

// add queues key, as put does, without put's log line.
func (o *outbox) add(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.addLocked(key)
}

func (o *outbox) addLocked(key string) {
	if n, ok := o.keys[key]; ok {
		o.keys[key] = n + 1
		return
	}
	if len(o.keys) >= o.max {
		if !o.overflow {
			o.overflow = true
			o.log.Error("L2 retry queue full: further failed writes are not retried; other instances may serve the replaced values until their TTL",
				"max", o.max)
		}
		return
	}
	o.keys[key] = 1
	o.size.Store(int64(len(o.keys)))
}

// remove drops key unless it was queued again after the retry began.
func (o *outbox) remove(key string, queued uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys[key] != queued {
		return
	}
	delete(o.keys, key)
	o.size.Store(int64(len(o.keys)))
	if len(o.keys) == 0 {
		o.overflow = false
		o.log.Info("L2 caught up: every queued write is republished")
	}
}

// maxFailuresPerPass bounds the failed retries of one pass. A failure may
// be the key's alone (a node of a cluster that is down, a key that Redis
// refuses), so a pass goes on past it and the keys behind it still land;
// but when all of L2 is down every retry fails, each after a store read,
// and the pass must not read the store for every queued key each tick.
const maxFailuresPerPass = 16

// run republishes the queued keys every interval until close. A pass goes
// on past a failed key and stops after maxFailuresPerPass failures; the
// next tick tries again, in another order.
func (o *outbox) run() {
	defer close(o.done)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	type entry struct {
		key    string
		queued uint64
	}
	var batch []entry
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
		o.requeue()
		if o.size.Load() == 0 {
			continue
		}
		o.mu.Lock()
		batch = batch[:0]
		for k, n := range o.keys {
			batch = append(batch, entry{k, n})
		}
		o.mu.Unlock()
		failures := 0
		for _, e := range batch {
			select {
			case <-o.stop:
				return
			default:
			}
			if o.republish(e.key) != nil {
				if failures++; failures == maxFailuresPerPass {
					break
				}
				continue
			}
			o.remove(e.key, e.queued)
		}
	}
}

// close stops the retries and returns how many keys were never republished.
// Calling it again does nothing more.
func (o *outbox) close() int {
	o.closeOnce.Do(func() { close(o.stop) })
	<-o.done
	return o.len()
}
