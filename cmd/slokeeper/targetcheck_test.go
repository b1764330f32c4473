package main

import (
	"strings"
	"testing"

	"slokeeper/internal/blob/blobtest"
)

// TestTargetCheck: policy check and the backup commands say what a
// versioned or object-locked target keeps of erased backups; policy check
// fails when the lock's default retention outlasts an erase ceiling (the
// default policy erases snapshots 14 days after they are made).
func TestTargetCheck(t *testing.T) {
	t.Run("LockOutlastsCeiling", func(t *testing.T) {
		target := blobtest.S3ServerWith(t, blobtest.S3Options{LockDays: 30})
		out, errOut, code := cliRun(t, "policy", "check", "--backup-target", target)
		if code == 0 {
			t.Errorf("policy check passed with a 30-day lock over a 14-day ceiling:\n%s%s", out, errOut)
		}
		for _, want := range []string{"object lock (GOVERNANCE, default retention 30 days)", "WARNING: user_data (", "警告: user_data", "outlasts an erase ceiling"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		if strings.Contains(errOut, "WARNING: system_logs") || strings.Contains(errOut, "WARNING: exec_logs") {
			t.Errorf("a 30-day lock reported against a yearly ceiling:\n%s", errOut)
		}
	})
	t.Run("LockWithinCeilings", func(t *testing.T) {
		target := blobtest.S3ServerWith(t, blobtest.S3Options{LockDays: 7})
		out, errOut, code := cliRun(t, "policy", "check", "--backup-target", target)
		if code != 0 || strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "default retention 7 days") || !strings.Contains(out, "valid") {
			t.Errorf("policy check with a 7-day lock: exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("Versioned", func(t *testing.T) {
		target := blobtest.S3ServerWith(t, blobtest.S3Options{Versioning: true})
		_, errOut, code := cliRun(t, "backup", "sets", "--data", t.TempDir(), "--backup-target", target)
		if code != 0 || !strings.Contains(errOut, "versioning on") || !strings.Contains(errOut, "バージョニング") {
			t.Errorf("backup sets on a versioned target: exit %d\n%s", code, errOut)
		}
	})
	t.Run("Plain", func(t *testing.T) {
		_, errOut, code := cliRun(t, "policy", "check", "--backup-target", blobtest.S3Server(t))
		if code != 0 || strings.Contains(errOut, "backup target") {
			t.Errorf("policy check on a plain bucket: exit %d\n%s", code, errOut)
		}
	})
}
