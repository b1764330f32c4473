package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/logstore"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
)

const backupUsage = `Usage:
  slokeeper backup run --class system|exec --day YYYY-MM-DD   back up a sealed day now, verify it, catalog it
  slokeeper backup list [--class C] [--day D] [--all]
  slokeeper backup verify ID                                  read it back and check everything
  slokeeper backup restore ID --into DIR                      restore the day into a new data directory
  slokeeper backup catalog rebuild                            recreate the catalog from the target's manifests

The target is --backup-target: a directory (default DATA/backups) or
s3://host/bucket/prefix. Objects are encrypted, checksummed and described by
a manifest beside them.
`

// openTarget opens the configured backup target.
func openTarget(ctx context.Context, cfg Config) (slokeeper.BlobStore, error) {
	if strings.HasPrefix(cfg.BackupTarget, "s3://") {
		return blob.OpenS3(ctx, cfg.BackupTarget)
	}
	dir := cfg.BackupTarget
	if dir == "" {
		dir = filepath.Join(cfg.Data, "backups")
	}
	return blob.OpenDir(dir)
}

func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "catalog" {
		if len(args) < 2 || args[1] != "rebuild" {
			fmt.Fprint(stderr, backupUsage)
			return errUsage
		}
		args = append([]string{"catalog-rebuild"}, args[2:]...)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, backupUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("backup "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy", "backup-target")
	var class, day, into string
	var all bool
	var id string
	switch sub {
	case "run":
		fs.StringVar(&class, "class", "", "system or exec")
		fs.StringVar(&day, "day", "", "the sealed day, YYYY-MM-DD")
	case "list":
		fs.StringVar(&class, "class", "", "only this class")
		fs.StringVar(&day, "day", "", "only this day")
		fs.BoolVar(&all, "all", false, "include erased backups")
	case "verify", "restore":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "backup %s: name the backup first\n", sub)
			return errUsage
		}
		id, args = args[0], args[1:]
		if sub == "restore" {
			fs.StringVar(&into, "into", "", "a new data directory to restore into")
		}
	case "catalog-rebuild":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, backupUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper backup: unknown command %q\n\n%s", sub, backupUsage)
		return errUsage
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	m := &Main{Config: cfg, Store: store, Clock: slokeeper.SystemClock{}, Logger: discardLogger()}
	if m.Policy, err = loadPolicy(cfg.Policy, discardLogger()); err != nil {
		return err
	}
	if sub == "list" {
		recs, err := store.Backups.FindBackups(ctx, slokeeper.BackupFilter{Class: class, Day: day, IncludeErased: all})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCLASS\tDAY\tCREATED\tVERIFIED\tERASED")
		for _, b := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Class, b.Day, b.Created.Format(time.RFC3339), stamp(b.VerifiedAt), stamp(b.ErasedAt))
		}
		return tw.Flush()
	}
	target, err := openTarget(ctx, cfg)
	if err != nil {
		return err
	}
	if m.Ledger, err = openLedger(cfg, store, m.Clock); err != nil {
		return err
	}
	if m.Keys, m.closeKeys, err = openKeys(ctx, cfg); err != nil {
		return err
	}
	defer m.closeKeys()
	logs, err := logstore.OpenReadOnly(ctx, m.logstoreConfig())
	if err != nil {
		return err
	}
	defer logs.Close()
	bk := backup.New(backup.Config{Target: target, Logs: logs, Sealer: m.Keys, Clock: m.Clock})
	clause := map[string]string{"system": policy.ClauseSystemLogs, "exec": policy.ClauseExecLogs}
	evidence := func(action string, man *backup.Manifest, outcome, detail string) {
		store.Evidence.RecordEvidence(ctx, &slokeeper.Evidence{At: m.Clock.Now(), Clause: clause[man.Class], Action: action,
			Subject: man.Class + "/" + man.Day + " " + man.ID, Outcome: outcome, Detail: detail, Node: m.node()})
	}
	find := func() (*backup.Manifest, error) {
		recs, err := store.Backups.FindBackups(ctx, slokeeper.BackupFilter{ID: id, IncludeErased: true})
		if err != nil || len(recs) == 0 {
			return nil, fmt.Errorf("no backup %q in the catalog (try: slokeeper backup catalog rebuild)", id)
		}
		var man backup.Manifest
		return &man, json.Unmarshal(recs[0].Manifest, &man)
	}
	switch sub {
	case "run":
		if _, err := m.Ledger.Record(ctx, cliActor(), "backup.run", "logs:"+class+"/"+day, ""); err != nil {
			return err
		}
		man, err := bk.BackupPartition(ctx, class, day)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(man)
		if err := store.Backups.AddBackup(ctx, &slokeeper.BackupRecord{ID: man.ID, Class: man.Class, Day: man.Day, Created: man.Created, Manifest: body}); err != nil {
			return err
		}
		evidence("backup", man, slokeeper.OutcomeOK, fmt.Sprintf("%d records, %d bytes", man.Records, man.ObjectSize))
		if err := bk.Verify(ctx, man); err != nil {
			evidence("verify", man, slokeeper.OutcomeFailed, slokeeper.ErrorMessage(err))
			return err
		}
		store.Backups.MarkBackupVerified(ctx, man.ID, m.Clock.Now())
		evidence("verify", man, slokeeper.OutcomeOK, "read back, decrypted, every block and the count checked")
		fmt.Fprintf(stdout, "backed up and verified %s/%s as %s: %d records, %d bytes\n", man.Class, man.Day, man.ID, man.Records, man.ObjectSize)
		return nil
	case "verify":
		man, err := find()
		if err != nil {
			return err
		}
		if err := bk.Verify(ctx, man); err != nil {
			evidence("verify", man, slokeeper.OutcomeFailed, slokeeper.ErrorMessage(err))
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		store.Backups.MarkBackupVerified(ctx, man.ID, m.Clock.Now())
		evidence("verify", man, slokeeper.OutcomeOK, "read back, decrypted, every block and the count checked")
		fmt.Fprintf(stdout, "%s verified: %s/%s, %d records\n", man.ID, man.Class, man.Day, man.Records)
		return nil
	case "restore":
		if into == "" {
			fmt.Fprint(stderr, "backup restore: --into DIR is needed\n")
			return errUsage
		}
		man, err := find()
		if err != nil {
			return err
		}
		if _, err := m.Ledger.Record(ctx, cliActor(), "backup.restore", "logs:"+man.Class+"/"+man.Day, man.ID+" into "+into); err != nil {
			return err
		}
		if err := os.MkdirAll(into, 0o700); err != nil {
			return err
		}
		db, err := sqlite.Open(ctx, filepath.Join(into, "slokeeper.db"))
		if err != nil {
			return err
		}
		defer db.Close()
		dest, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(into, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: m.Policy.Location()})
		if err != nil {
			return err
		}
		defer dest.Close()
		info, err := bk.Restore(ctx, man, dest)
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "restored %s/%s (%d records) into %s\n", info.Class, info.Day, info.Records, into)
		return nil
	}
	// catalog rebuild
	mans, err := bk.Manifests(ctx)
	if err != nil {
		return err
	}
	added := 0
	for _, man := range mans {
		body, _ := json.Marshal(man)
		err := store.Backups.AddBackup(ctx, &slokeeper.BackupRecord{ID: man.ID, Class: man.Class, Day: man.Day, Created: man.Created, Manifest: body})
		if err == nil {
			added++
		} else if slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d manifests on the target; %d added to the catalog (unverified until `backup verify`)\n", len(mans), added)
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}
