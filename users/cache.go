package users

import (
	"context"

	"github.com/tiercache/tiercache/core"
)

// Cache is the coherent two-tier cache of users: a core.Cache that reads
// through a Store, with the writes of the user API. Reads (Get), Stats,
// Ready and Close are core.Cache's. It is safe for concurrent use.
type Cache struct {
	*core.Cache
	store Store
}

// NewCache returns the cache of store. cfg.Loader and cfg.Validate are set
// from store; the rest of cfg is core's.
func NewCache(store Store, cfg core.Config) (*Cache, error) {
	cfg.Loader = Loader(store)
	cfg.Validate = Valid
	c, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Cache{Cache: c, store: store}, nil
}

// Create registers u in the store, then publishes it to the caches; it
// returns the rendered user. It returns ErrExists, leaving the stored user
// unchanged, when the name is taken.
func (c *Cache) Create(ctx context.Context, u User) ([]byte, error) {
	return c.write(ctx, u, c.store.Create)
}

// Update replaces the email of an existing user and returns the rendered
// user, or ErrNotFound.
func (c *Cache) Update(ctx context.Context, u User) ([]byte, error) {
	return c.write(ctx, u, c.store.Update)
}

func (c *Cache) write(ctx context.Context, u User, op func(context.Context, User) (uint64, error)) ([]byte, error) {
	sctx, cancel := context.WithTimeout(ctx, c.StoreTimeout())
	version, err := op(sctx, u)
	cancel()
	if err != nil {
		return nil, err
	}
	body := u.AppendJSON(nil)
	c.Publish(ctx, u.Name, body, version)
	return body, nil
}

// Delete removes a user, or returns ErrNotFound.
func (c *Cache) Delete(ctx context.Context, name string) error {
	sctx, cancel := context.WithTimeout(ctx, c.StoreTimeout())
	version, err := c.store.Delete(sctx, name)
	cancel()
	if err != nil {
		return err
	}
	c.PublishNotFound(ctx, name, version)
	return nil
}
