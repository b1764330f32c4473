package storetest

import (
	"context"
	"testing"
	"time"

	"slokeeper"
)

// sum65 is a sealed partition's checksum (sha256 hex, 65 records).
const sum65 = "6565656565656565656565656565656565656565656565656565656565656565"

func testBackupCatalog(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 0, 20, 0, 0, time.UTC)
	for _, b := range []*slokeeper.BackupRecord{
		{ID: "bk_2", Class: "exec", Day: "2026-12-03", Created: now.Add(time.Hour), Manifest: []byte(`{"id":"bk_2"}`)},
		{ID: "bk_1", Class: "exec", Day: "2026-12-03", Checksum: sum65, Records: 65, Created: now, Manifest: []byte(`{"id":"bk_1"}`)},
		{ID: "bk_3", Class: "system", Day: "2026-12-03", Created: now, Manifest: []byte(`{}`)},
		{ID: "bk_4", Class: "user", Account: "acct-1", Day: "2026-12-03", Checksum: "abc", Records: 3, Created: now, Manifest: []byte(`{}`)},
	} {
		if err := s.Backups.AddBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Backups.AddBackup(ctx, &slokeeper.BackupRecord{ID: "bk_1", Class: "exec", Day: "d", Created: now, Manifest: []byte("{}")}); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("duplicate backup = %v", err)
	}
	if err := s.Backups.MarkBackupVerified(ctx, "bk_1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Backups.MarkBackupErased(ctx, "bk_2", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Backups.MarkBackupVerified(ctx, "nope", now); slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		t.Errorf("marking an unknown backup = %v", err)
	}
	got, err := s.Backups.FindBackups(ctx, slokeeper.BackupFilter{Class: "exec"})
	if err != nil || len(got) != 1 || got[0].ID != "bk_1" || !got[0].VerifiedAt.Equal(now.Add(time.Minute)) || string(got[0].Manifest) != `{"id":"bk_1"}` || !got[0].Created.Equal(now) {
		t.Errorf("live exec backups = %+v, %v", got, err)
	}
	if all, _ := s.Backups.FindBackups(ctx, slokeeper.BackupFilter{IncludeErased: true}); len(all) != 4 || all[0].ID != "bk_1" || all[1].ID != "bk_2" || all[1].ErasedAt.IsZero() {
		t.Errorf("all backups = %+v", all)
	}
	// The content a backup holds comes back with it, manifest or not: the
	// planner counts a backup as covering a partition by it.
	if lean, _ := s.Backups.FindBackups(ctx, slokeeper.BackupFilter{Class: "exec", SkipManifest: true}); len(lean) != 1 || lean[0].ID != "bk_1" || lean[0].Manifest != nil || lean[0].VerifiedAt.IsZero() ||
		lean[0].Checksum != sum65 || lean[0].Records != 65 {
		t.Errorf("without manifests = %+v", lean)
	}
	if u, _ := s.Backups.FindBackups(ctx, slokeeper.BackupFilter{Account: "acct-1"}); len(u) != 1 || u[0].ID != "bk_4" || u[0].Class != "user" || u[0].Account != "acct-1" || u[0].Checksum != "abc" || u[0].Records != 3 {
		t.Errorf("acct-1's backups = %+v", u)
	}
}
