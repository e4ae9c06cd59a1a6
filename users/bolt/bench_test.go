package bolt_test

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tiercache/tiercache/users"
)

// BenchmarkCreate measures durable registrations of distinct users by 1, 8
// and 64 concurrent clients; creates/s is the figure to compare with the
// docs/design.md target, writes/commit shows how much group commit shares.
func BenchmarkCreate(b *testing.B) {
	for _, clients := range []int{1, 8, 64} {
		b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) {
			s, _ := open(b)
			var next, started atomic.Int64
			b.ReportAllocs()
			// RunParallel starts a multiple of GOMAXPROCS goroutines; the
			// surplus leave at once, so that exactly clients goroutines write.
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((clients + procs - 1) / procs)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				if started.Add(1) > int64(clients) {
					return
				}
				for pb.Next() {
					name := "user" + strconv.FormatInt(next.Add(1), 10)
					if _, err := s.Create(b.Context(), users.User{Name: name, Email: name + "@example.com"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
		})
	}
}
