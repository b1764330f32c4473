package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

func testLogCatalog(t *testing.T, s Store) {
	ctx := context.Background()
	cat := s.LogCatalog
	open := &slokeeper.LogPartition{Class: slokeeper.LogClassExec, Day: "2026-12-03"}
	if err := cat.UpsertLogPartition(ctx, open); err != nil {
		t.Fatal(err)
	}
	min, max := time.Date(2026, 12, 2, 15, 0, 0, 1000, time.UTC), time.Date(2026, 12, 3, 14, 59, 59, 999999000, time.UTC)
	sealed := &slokeeper.LogPartition{
		Class: slokeeper.LogClassSystem, Day: "2026-12-03", Records: 1234567, Bytes: 98765432, Sealed: true,
		Checksum: "ab12", MinReceived: min, MaxReceived: max, SealedAt: max.Add(time.Hour),
	}
	for _, p := range []*slokeeper.LogPartition{sealed, {Class: slokeeper.LogClassExec, Day: "2026-12-01"}} {
		if err := cat.UpsertLogPartition(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Upsert updates in place: the open partition seals.
	open.Records, open.Sealed, open.Checksum, open.MinReceived, open.MaxReceived = 5, true, "cd34", min, max
	if err := cat.UpsertLogPartition(ctx, open); err != nil {
		t.Fatal(err)
	}
	all, err := cat.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range all {
		got = append(got, p.Class+"/"+p.Day)
	}
	if want := "exec/2026-12-01 exec/2026-12-03 system/2026-12-03"; strings.Join(got, " ") != want {
		t.Errorf("partitions = %s, want %s", strings.Join(got, " "), want)
	}
	if p := all[2]; p.Records != sealed.Records || p.Bytes != sealed.Bytes || !p.Sealed || p.Checksum != "ab12" ||
		!p.MinReceived.Equal(min) || !p.MaxReceived.Equal(max) || !p.SealedAt.Equal(sealed.SealedAt) {
		t.Errorf("sealed partition = %+v, want %+v", p, sealed)
	}
	if p := all[1]; p.Records != 5 || !p.Sealed || p.Checksum != "cd34" {
		t.Errorf("updated partition = %+v", p)
	}
	if p := all[0]; p.Sealed || !p.MinReceived.IsZero() || !p.SealedAt.IsZero() {
		t.Errorf("empty open partition = %+v", p)
	}
	yes := true
	if ps, _ := cat.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Class: slokeeper.LogClassExec, Sealed: &yes}); len(ps) != 1 || ps[0].Day != "2026-12-03" {
		t.Errorf("sealed exec partitions = %v", ps)
	}
	if ps, _ := cat.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Day: "2026-12-03"}); len(ps) != 2 {
		t.Errorf("partitions of 2026-12-03 = %d, want 2", len(ps))
	}
	if err := cat.DeleteLogPartition(ctx, slokeeper.LogClassExec, "2026-12-01"); err != nil {
		t.Fatal(err)
	}
	if err := cat.DeleteLogPartition(ctx, slokeeper.LogClassExec, "2026-12-01"); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("deleting twice = %v, want ENOTFOUND", err)
	}
	if err := cat.UpsertLogPartition(ctx, &slokeeper.LogPartition{Class: "audio", Day: "2026-12-03"}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("unknown class = %v, want EINVALID", err)
	}
}

func testSources(t *testing.T, s Store) {
	ctx := context.Background()
	hash := func(token string) []byte { h := sha256.Sum256([]byte(token)); return h[:] }
	created := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	a := &slokeeper.Source{ID: "src-a", Account: "acct-1", Kind: slokeeper.SourceAgent, Name: "工場ゲートウェイ", CreatedAt: created, TokenHash: hash("token-a")}
	b := &slokeeper.Source{ID: "src-b", Kind: slokeeper.SourceApp, Name: "api servers", CreatedAt: created, TokenHash: hash("token-b")}
	for _, src := range []*slokeeper.Source{a, b} {
		if err := s.Sources.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sources.CreateSource(ctx, &slokeeper.Source{ID: "src-a", Account: "x", Kind: slokeeper.SourceDevice, Name: "dup", TokenHash: hash("other")}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("duplicate ID = %v, want ECONFLICT", err)
	}
	if err := s.Sources.CreateSource(ctx, &slokeeper.Source{ID: "src-c", Kind: slokeeper.SourceDevice, Name: "no account", TokenHash: hash("c")}); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("device without account = %v, want EINVALID", err)
	}
	got, err := s.Sources.FindSourceByTokenHash(ctx, hash("token-a"))
	if err != nil || got.ID != "src-a" || got.Name != a.Name || got.Account != "acct-1" || !got.CreatedAt.Equal(created) || !bytes.Equal(got.TokenHash, a.TokenHash) {
		t.Errorf("FindSourceByTokenHash = %+v, %v", got, err)
	}
	if _, err := s.Sources.FindSourceByTokenHash(ctx, hash("wrong")); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("unknown token = %v, want ENOTFOUND", err)
	}
	if err := s.Sources.RevokeSource(ctx, "src-a", created.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sources.FindSourceByTokenHash(ctx, hash("token-a")); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("revoked token = %v, want ENOTFOUND", err)
	}
	if err := s.Sources.RevokeSource(ctx, "nope", created); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("revoking an unknown source = %v, want ENOTFOUND", err)
	}
	live, _ := s.Sources.FindSources(ctx, slokeeper.SourceFilter{})
	all, _ := s.Sources.FindSources(ctx, slokeeper.SourceFilter{IncludeRevoked: true})
	if len(live) != 1 || live[0].ID != "src-b" || len(all) != 2 || !all[0].RevokedAt.Equal(created.Add(time.Hour)) {
		t.Errorf("live = %v, all = %v", live, all)
	}
	if byAcct, _ := s.Sources.FindSources(ctx, slokeeper.SourceFilter{Account: "acct-1", IncludeRevoked: true}); len(byAcct) != 1 {
		t.Errorf("sources of acct-1 = %v", byAcct)
	}
}
