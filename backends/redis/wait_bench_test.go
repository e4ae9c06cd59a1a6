package redis_test

import (
	"context"
	"testing"

	"github.com/redis/rueidis"
	"github.com/tiercache/tiercache/internal/launch"
)

// What WAIT 1 after each write would cost the tier (the alternative to
// republishing after a failover; see "Failover" in doc.go), on a real
// cluster: the tier's write (a command, then a barrier read on the same
// connection) without and with WAIT. In a cluster, a keyless WAIT sent
// alone goes to any node (rueidis picks the first connection it finds),
// so WAIT rides in one DoMulti with the write, which sends both to the
// key's master on one connection; the benchmark checks that it counted
// the replica.
//
//	go test -run '^$' -bench WriteWait -benchtime 3s ./backends/redis/
func BenchmarkWriteWait(b *testing.B) {
	c, err := launch.StartCluster(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{c.Nodes[0].Addr}, PipelineMultiplex: -1, DisableRetry: true, DisableCache: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	const key = "bench:wait"
	master, err := c.MasterOf(key)
	if err != nil {
		b.Fatal(err)
	}
	replica, err := c.ReplicaOf(master)
	if err != nil || replica == nil {
		b.Fatalf("ReplicaOf(%s) = %v, %v", master.Addr, replica, err)
	}
	// write makes the tier's write, with WAIT 1 waitMs when waitMs > 0,
	// which must count want replicas.
	write := func(b *testing.B, waitMs, want int64) {
		for b.Loop() {
			set := client.B().Set().Key(key).Value("v").Build()
			if waitMs == 0 {
				if err := client.Do(ctx, set).Error(); err != nil {
					b.Fatal(err)
				}
			} else {
				rs := client.DoMulti(ctx, set, client.B().Wait().Numreplicas(1).Timeout(waitMs).Build())
				n, err := rs[1].AsInt64()
				if err != nil || n != want {
					b.Fatalf("WAIT = %d, %v; want %d", n, err, want)
				}
			}
			if err := client.Do(ctx, client.B().Exists().Key(key).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("write", func(b *testing.B) { write(b, 0, 0) })
	b.Run("write+wait", func(b *testing.B) { write(b, 100, 1) })
	b.Run("write+wait/replica-stopped", func(b *testing.B) {
		replica.Pause()
		defer replica.Resume()
		write(b, 20, 0)
	})
}
