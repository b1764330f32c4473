package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"slokeeper/internal/heaptest"
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
			var peak uint64
			refused := 0
			for b.Loop() {
				peak = max(peak, heaptest.Peak(func() {
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
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(refused)/float64(b.N), "503/op")
		})
	}
}
