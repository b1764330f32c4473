package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSignInPeakHeap sends 60 sign-ins at once for names that do not
// exist (each costs an argon2id run of 19 MiB) and reports the peak heap
// while they run, with the hashing bound at its default for 2 CPUs (4)
// and at 60 (in effect no bound, as before).
func BenchmarkSignInPeakHeap(b *testing.B) {
	for _, bound := range []int{4, 60} {
		b.Run(fmt.Sprintf("bound=%d", bound), func(b *testing.B) {
			cfg := testConfig()
			cfg.Data, cfg.LoginHashConcurrency, cfg.LogLevel = b.TempDir(), bound, "error"
			m := NewMain(cfg, io.Discard)
			if err := m.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer m.Close(context.Background())
			url := m.HTTP.URL() + "/api/v1/auth/login"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			var peak uint64
			refused := 0
			for b.Loop() {
				runtime.GC()
				metrics.Read(sample)
				base := sample[0].Value.Uint64()
				stop, sampled := make(chan struct{}), make(chan uint64)
				go func() {
					var high uint64
					for {
						metrics.Read(sample)
						high = max(high, sample[0].Value.Uint64())
						select {
						case <-stop:
							sampled <- high
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
				var wg sync.WaitGroup
				var mu sync.Mutex
				for i := range 60 {
					wg.Go(func() {
						resp, err := client.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"name":"nobody%d","password":"guess"}`, i)))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusServiceUnavailable {
							mu.Lock()
							refused++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				close(stop)
				if high := <-sampled; high > base {
					peak = max(peak, high-base)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(refused)/float64(b.N), "503/op")
		})
	}
}
