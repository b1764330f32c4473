package pgcluster_test

import (
	"context"
	"testing"
	"time"

	"slokeeper/internal/postgres/pgcluster"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestSynchronousFailoverLosesNoCommit: with synchronous replication, a
// client on the multi-host DSN writes through a crash of the primary and
// the standby's promotion; every commit that returned is on the promoted
// server.
func TestSynchronousFailoverLosesNoCommit(t *testing.T) {
	c := pgcluster.Start(t, pgcluster.Options{Synchronous: true})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE acked (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var acked []int
	failed := 0
	write := func(id int) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := pool.Exec(wctx, `INSERT INTO acked (id) VALUES ($1) ON CONFLICT DO NOTHING`, id); err != nil {
			failed++
			time.Sleep(50 * time.Millisecond) // a client's retry pause while the database is away
			return
		}
		acked = append(acked, id)
	}
	id := 0
	for len(acked) < 200 {
		id++
		write(id)
	}
	c.Primary.Stop(t)
	promoted := make(chan struct{})
	go func() { defer close(promoted); c.Standby.Promote(t) }()
	for n := len(acked); len(acked) < n+200; {
		id++
		write(id)
	}
	<-promoted
	t.Logf("%d writes acknowledged, %d failed while the primary was away", len(acked), failed)
	if failed == 0 {
		t.Error("no write failed: the primary was never away")
	}
	conn, err := pgx.Connect(ctx, c.Standby.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || inRecovery {
		t.Fatalf("the standby is in recovery = %v (%v), want promoted", inRecovery, err)
	}
	have := map[int]bool{}
	rows, _ := conn.Query(ctx, `SELECT id FROM acked`)
	for rows.Next() {
		var v int
		rows.Scan(&v)
		have[v] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, v := range acked {
		if !have[v] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes are not on the promoted server", lost, len(acked))
	}
}
