package selflog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"slokeeper"
	"slokeeper/internal/logstore"
	"slokeeper/internal/selflog"
	"slokeeper/internal/sqlite"
)

func TestOwnLogsAreSystemLogs(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logs, err := logstore.Open(context.Background(), logstore.Config{Dir: filepath.Join(dir, "logs"), Catalog: sqlite.NewLogCatalog(db)})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var stderr bytes.Buffer
	h := selflog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), logs, "slokeeper/node-1")
	logger := slog.New(h).With("component", "http")
	logger.Debug("not enabled")
	logger.Info("request served", "status", 200)
	logger.WithGroup("db").Error("query failed", "err", errors.New("connection reset"))
	h.Close()

	if !bytes.Contains(stderr.Bytes(), []byte("request served")) {
		t.Errorf("the next handler did not get the record: %s", stderr.String())
	}
	var got []slokeeper.LogRecord
	logs.QueryLogs(context.Background(), slokeeper.LogQuery{}, func(r *slokeeper.LogRecord) error { got = append(got, *r); return nil })
	if len(got) != 2 {
		t.Fatalf("stored %d records, want 2: %+v", len(got), got)
	}
	if r := got[0]; r.Class != slokeeper.LogClassSystem || r.SourceKind != slokeeper.SourceApp || r.SourceID != "slokeeper/node-1" ||
		r.Level != "info" || r.Message != "request served" || r.SenderTime.IsZero() {
		t.Errorf("record = %+v", r)
	}
	var attrs map[string]any
	json.Unmarshal(got[1].Attrs, &attrs)
	if attrs["component"] != "http" || attrs["db.err"] != "connection reset" || got[1].Level != "error" {
		t.Errorf("attrs = %v, level %s", attrs, got[1].Level)
	}
}
