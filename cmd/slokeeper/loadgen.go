package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"slokeeper/internal/loggen"
)

const loadgenUsage = `Usage: slokeeper loadgen --url URL --token TOKEN [flags]

Drives a slokeeper server with generated log traffic over HTTP NDJSON
(POST URL/api/v1/logs) and reports acknowledged lines a second, bytes a
second and request latency percentiles. The traffic is deterministic for a
seed. Run the server with --ingest-rate -1 to measure beyond the per-source
rate limit.

Flags:
`

func runLoadgen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, loadgenUsage); fs.PrintDefaults() }
	url := fs.String("url", "", "server base URL, e.g. http://127.0.0.1:8080")
	token := fs.String("token", "", "a source token (slokeeper source add)")
	rate := fs.Float64("rate", 0, "lines a second to offer (0: as fast as the server takes them)")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	batch := fs.Int("batch", 1000, "lines per request")
	conns := fs.Int("conns", 8, "concurrent requests")
	seed := fs.Uint64("seed", 1, "traffic seed")
	sources := fs.Int("sources", 1000, "simulated senders in the traffic")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *url == "" || *token == "" || *batch < 1 || *conns < 1 {
		fmt.Fprintln(stderr, "loadgen: --url and --token are needed; --batch and --conns must be at least 1")
		return errUsage
	}
	// New requests start until the deadline; those under way then finish
	// and count, so what loadgen reports acknowledged is what was stored.
	deadline := time.Now().Add(*duration)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns}}

	var lines, bytesSent, failures atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	// Pacing: each worker sends a batch every interval to offer --rate in all.
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(*batch**conns) / *rate * float64(time.Second))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *conns {
		wg.Go(func() {
			g := loggen.New(*seed*1000+uint64(w), *sources)
			var body []byte
			next := time.Now()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				body = body[:0]
				for range *batch {
					body = g.AppendNDJSON(body)
				}
				if interval > 0 {
					if d := min(time.Until(next), time.Until(deadline)); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
					if !time.Now().Before(deadline) {
						return
					}
					next = next.Add(interval)
				}
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "POST", *url+"/api/v1/logs", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+*token)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failures.Add(1)
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("HTTP %d", resp.StatusCode))
					mu.Unlock()
					continue
				}
				lines.Add(int64(*batch))
				bytesSent.Add(int64(len(body)))
				mu.Lock()
				latencies = append(latencies, lat)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Fprintf(stdout, "duration      %s\n", elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "acknowledged  %d lines in %d requests (%d failed)\n", lines.Load(), len(latencies), failures.Load())
	fmt.Fprintf(stdout, "throughput    %.0f lines/s, %.1f MB/s\n", float64(lines.Load())/elapsed.Seconds(), float64(bytesSent.Load())/elapsed.Seconds()/1e6)
	fmt.Fprintf(stdout, "latency       p50 %s  p90 %s  p99 %s  max %s\n", pct(0.5), pct(0.9), pct(0.99), pct(1))
	if firstErr != nil {
		fmt.Fprintf(stdout, "first error   %v\n", firstErr)
	}
	return nil
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}
