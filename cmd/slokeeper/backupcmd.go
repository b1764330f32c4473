package main

import (
	"cmp"
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/backup"
	"slokeeper/internal/blob"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/logstore"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/sqlite"
	"slokeeper/lifecycle"
)

const backupUsage = `Usage:
  slokeeper backup run --class system|exec --day YYYY-MM-DD   back up a sealed day now, verify it, catalog it
  slokeeper backup run --account ID                           snapshot an account's data now, verify it, catalog it
  slokeeper backup list [--class C] [--account ID] [--day D] [--all]
  slokeeper backup sets [--class C] [--lang ja|en]            the sets the policy names (logs: a month's days), how complete
  slokeeper backup verify ID                                  read it back and check everything
  slokeeper backup drill [--class C] [--sample N] [--seed S]  restore drill now: a seeded sample restored into a scratch area, checked, timed
  slokeeper backup restore ID --into DIR                      restore a log day into a new data directory
  slokeeper backup restore ID --replace                       make an account's snapshot its whole data again
  slokeeper backup restore --all --into DIR [--at TIME]       everything, newest verified backups, into a new data directory
  slokeeper backup catalog rebuild                            recreate the catalog and the accounts from the target

The target is --backup-target: a directory (default DATA/backups) or
s3://host/bucket/prefix. Objects are encrypted, checksummed and described by
a manifest beside them. An account's backups are encrypted under its own
key: once the account is deleted and its key destroyed, none of them can
be read.

After slokeeper login (or with SLOKEEPER_SERVER), list, sets and verify
go through the server's API as you (verify: admin or operator), and the
ledger records you. Without a sign-in they work on the store, as do run,
restore and catalog rebuild always: restore and catalog rebuild work on a
stopped server's data directory and need the master key file.
` + directStoreHelp

// openTarget opens the configured backup target.
func openTarget(ctx context.Context, cfg Config) (slokeeper.BlobStore, error) {
	if strings.HasPrefix(cfg.BackupTarget, "s3://") {
		opts, err := s3Options(cfg)
		if err != nil {
			return nil, err
		}
		return blob.OpenS3(ctx, cfg.BackupTarget, opts)
	}
	dir := cfg.BackupTarget
	if dir == "" {
		dir = filepath.Join(cfg.Data, "backups")
	}
	return blob.OpenDir(dir)
}

// s3Options are the S3 target's options from the configuration: its
// private CA (backup_target_ca), if any.
func s3Options(cfg Config) (blob.S3Options, error) {
	var opts blob.S3Options
	if cfg.BackupTargetCA != "" {
		pem, err := os.ReadFile(cfg.BackupTargetCA)
		if err != nil {
			return opts, fmt.Errorf("backup target CA: %w", err)
		}
		if opts.RootCAs = x509.NewCertPool(); !opts.RootCAs.AppendCertsFromPEM(pem) {
			return opts, slokeeper.Errorf(slokeeper.EINVALID, "backup target CA: %s holds no PEM certificate.", cfg.BackupTargetCA)
		}
	}
	return opts, nil
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
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db", "policy", "backup-target", "backup-target-ca")
	var class, account, day, into, lang, at string
	var all, replace bool
	var id string
	var drill httpserver.DrillRequest
	switch sub {
	case "run":
		fs.StringVar(&class, "class", "", "system or exec")
		fs.StringVar(&account, "account", "", "an account: snapshot its data")
		fs.StringVar(&day, "day", "", "the sealed day, YYYY-MM-DD")
	case "list":
		fs.StringVar(&class, "class", "", "only this class: system, exec or user")
		fs.StringVar(&account, "account", "", "only this account's")
		fs.StringVar(&day, "day", "", "only this day")
		fs.BoolVar(&all, "all", false, "include erased backups")
	case "drill":
		fs.StringVar(&class, "class", "", "only this class: system, user or exec (default: every class the policy drills)")
		fs.IntVar(&drill.Sample, "sample", 0, "backups per class, 1 to 100 (default: the policy's)")
		fs.Uint64Var(&drill.Seed, "seed", 0, "the sample's seed, to re-perform a drill (default: drawn, and recorded in the evidence)")
		fs.StringVar(&lang, "lang", "ja", "language: ja or en")
	case "sets":
		fs.StringVar(&class, "class", "", "only this class: system or exec")
		fs.StringVar(&lang, "lang", "ja", "language: ja or en")
	case "verify", "restore":
		if sub == "restore" {
			fs.StringVar(&into, "into", "", "a log backup, or --all: a new data directory to restore into")
			fs.BoolVar(&replace, "replace", false, "an account backup: replace the account's current data with it")
			fs.BoolVar(&all, "all", false, "restore the newest verified backup of every log day and every account")
			fs.StringVar(&at, "at", "", "with --all: the newest made by this time (RFC 3339 or YYYY-MM-DD)")
		}
		if len(args) > 0 && helpFlag(args[0]) {
			// parseFlags shows the usage
		} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			id, args = args[0], args[1:]
		} else if sub == "verify" || !slices.Contains(args, "--all") && !slices.Contains(args, "-all") {
			fmt.Fprintf(stderr, "backup %s: name the backup first\n", sub)
			return errUsage
		}
	case "catalog-rebuild":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, backupUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "slokeeper backup: unknown command %q\n\n%s", sub, backupUsage)
		return errUsage
	}
	if sub == "drill" {
		if err := parseFlags(fs, args, stderr); err != nil {
			return err
		}
		if lang != "ja" && lang != "en" {
			return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", lang)
		}
		server, err := cliServer(getenv)
		if err != nil {
			return err
		}
		if server == "" {
			return slokeeper.Errorf(slokeeper.EINVALID, "backup drill runs on the server: sign in first (slokeeper login) or set SLOKEEPER_SERVER.")
		}
		c, err := newAPIClient(getenv)
		if err != nil {
			return err
		}
		drill.Class = class
		return backupDrillAPI(ctx, c, drill, lang, stdout)
	}
	if sub == "list" || sub == "sets" || sub == "verify" {
		server, err := cliServer(getenv)
		if err != nil {
			return err
		}
		if server != "" {
			if err := parseFlags(fs, args, stderr); err != nil {
				return err
			}
			c, err := newAPIClient(getenv)
			if err != nil {
				return err
			}
			return backupAPI(ctx, c, sub, backupArgs{id: id, class: class, account: account, day: day, lang: lang, all: all}, stdout)
		}
	}
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if sub == "list" {
		recs, err := store.Backups.FindBackups(ctx, slokeeper.BackupFilter{Class: class, Account: account, Day: day, IncludeErased: all})
		if err != nil {
			return err
		}
		return printBackups(stdout, recs)
	}
	lt, err := openLifecycle(ctx, cfg, store, false)
	if err != nil {
		return err
	}
	defer lt.Close()
	if _, err := warnTarget(ctx, lt.target, lt.Policy, lt.Clock.Now(), stderr); err != nil {
		return err
	}
	switch sub {
	case "sets":
		if lang != "ja" && lang != "en" {
			return slokeeper.Errorf(slokeeper.EINVALID, "--lang %q is not ja or en.", lang)
		}
		sets, err := lt.exec.Sets(ctx, lt.Clock.Now())
		if err != nil {
			return err
		}
		return printSets(stdout, sets, class, lang, lt.Policy.Location())
	case "run":
		target := "logs:" + class + "/" + day
		if account != "" {
			if class != "" && class != "user" || day != "" {
				return slokeeper.Errorf(slokeeper.EINVALID, "An account's snapshot is taken now: give --account alone.")
			}
			class, day, target = "user", lt.Clock.Now().In(lt.Policy.Location()).Format(time.DateOnly), "account:"+account
		}
		if _, err := lt.Ledger.Record(ctx, cliActor(), "backup.run", target, localDetail("")); err != nil {
			return err
		}
		man, err := lt.exec.Backup(ctx, class, account, day, time.Time{})
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		if account != "" {
			fmt.Fprintf(stdout, "took and verified a snapshot of account %s as %s: %d items, %d bytes\n", account, man.ID, man.Records, man.ObjectSize)
			return nil
		}
		fmt.Fprintf(stdout, "backed up and verified %s/%s as %s: %d records, %d bytes\n", man.Class, man.Day, man.ID, man.Records, man.ObjectSize)
		return nil
	case "verify":
		if _, err := lt.Ledger.Record(ctx, cliActor(), "backup.verify", "backup:"+id, localDetail("verify now")); err != nil {
			return err
		}
		man, err := verifyBackup(ctx, lt.exec, id)
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		if man.Account != "" {
			fmt.Fprintf(stdout, "%s verified: account %s as of %s, %d items\n", man.ID, man.Account, man.Created.In(lt.Policy.Location()).Format(time.RFC3339), man.Records)
			return nil
		}
		fmt.Fprintf(stdout, "%s verified: %s/%s, %d records\n", man.ID, man.Class, man.Day, man.Records)
		return nil
	case "restore":
		if all {
			return restoreAll(ctx, lt, cfg, into, at, stdout, stderr)
		}
		man, err := lt.exec.Manifest(ctx, id)
		if err != nil {
			return err
		}
		if man.Account != "" {
			return restoreAccount(ctx, lt, man, replace, into, stdout, stderr)
		}
		if into == "" {
			fmt.Fprint(stderr, "backup restore: --into DIR is needed\n")
			return errUsage
		}
		if _, err := lt.Ledger.Record(ctx, cliActor(), "backup.restore", "logs:"+man.Class+"/"+man.Day, localDetail(man.ID+" into "+into)); err != nil {
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
		dest, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(into, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: lt.Policy.Location()})
		if err != nil {
			return err
		}
		defer dest.Close()
		info, err := lt.exec.Restore(ctx, man, dest, progressLine(stderr, "restoring "+man.ID))
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "restored %s/%s (%d records) into %s\n", info.Class, info.Day, info.Records, into)
		return nil
	}
	// catalog rebuild
	added, err := lt.exec.Adopt(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d backups added to the catalog from the target's manifests (unverified until `backup verify` or the next lifecycle pass)\n", added)
	rec, err := lt.exec.RecoverAccounts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d accounts recreated from the target's account states: %d active, %d with a deletion under way, %d deleted\n",
		rec.Active+rec.Deleting+rec.Deleted, rec.Active, rec.Deleting, rec.Deleted)
	for _, id := range rec.Unknown {
		fmt.Fprintf(stderr, "account %s has a key but no state on the target (created after the last lifecycle pass?): not recreated\n", id)
	}
	return nil
}

// lifecycleTools is what the backup and lifecycle commands work with.
type lifecycleTools struct {
	*Main
	logs   *logstore.Store
	exec   *reconcile.Executor
	target slokeeper.BlobStore
	close  []func() error
}

// openLifecycle opens the log store (read-only unless writable), the keys,
// the ledger and the backup target.
func openLifecycle(ctx context.Context, cfg Config, store *Store, writable bool) (*lifecycleTools, error) {
	m, err := openLocalMain(ctx, cfg, store)
	if err != nil {
		return nil, err
	}
	lt := &lifecycleTools{Main: m}
	lt.close = append(lt.close, m.closeKeys)
	openT := openTarget
	if writable { // lifecycle run: it erases what needs no target, target down or not
		openT = func(ctx context.Context, cfg Config) (slokeeper.BlobStore, error) {
			return openTargetLenient(ctx, cfg, m.Logger)
		}
	}
	target, err := openT(ctx, cfg)
	if err != nil {
		lt.Close()
		return nil, err
	}
	open := logstore.OpenReadOnly
	if writable {
		open = logstore.Open
	}
	if lt.logs, err = open(ctx, m.logstoreConfig()); err != nil {
		lt.Close()
		return nil, err // ECONFLICT when writable and a server holds the log store: lifecycle run asks it
	}
	lt.close = append(lt.close, lt.logs.Close)
	lt.exec, lt.target = m.newExecutor(lt.logs, target), target
	return lt, nil
}

func (lt *lifecycleTools) Close() {
	for i := len(lt.close) - 1; i >= 0; i-- {
		lt.close[i]()
	}
}

// progressLine returns a progress callback that rewrites one line on w
// ("\r"), at each whole percent.
func progressLine(w io.Writer, what string) func(done, total int64) {
	last := -1
	return func(done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct != last {
			last = pct
			fmt.Fprintf(w, "\r%s: %3d%% (%.1f of %.1f MiB)", what, pct, float64(done)/(1<<20), float64(total)/(1<<20))
		}
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// restoreAccount restores an account's snapshot into the account itself.
func restoreAccount(ctx context.Context, lt *lifecycleTools, man *backup.Manifest, replace bool, into string, stdout, stderr io.Writer) error {
	if into != "" {
		return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s is of account %s: it is restored into the account itself (--replace), not into a new data directory.", man.ID, man.Account)
	}
	if !replace {
		return slokeeper.Errorf(slokeeper.EINVALID, "Restoring backup %s replaces all of account %s's current data with its snapshot of %s (%d items). Pass --replace to do it.",
			man.ID, man.Account, man.Created.In(lt.Policy.Location()).Format(time.RFC3339), man.Records)
	}
	if _, err := lt.Ledger.Record(ctx, cliActor(), "backup.restore", "account:"+man.Account, localDetail(man.ID+" replaces the account's data")); err != nil {
		return err
	}
	n, err := lt.exec.RestoreAccount(ctx, man, progressLine(stderr, "restoring "+man.ID))
	fmt.Fprintln(stderr)
	if err != nil {
		return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "restored account %s to its snapshot of %s: %d items\n", man.Account, man.Created.In(lt.Policy.Location()).Format(time.RFC3339), n)
	return nil
}

var setStates = map[string][2]string{
	lifecycle.SetOpen: {"作成中", "open"}, lifecycle.SetComplete: {"完了", "complete"}, lifecycle.SetIncomplete: {"不足", "incomplete"},
}

// printBackups prints backups, one line each.
func printBackups(w io.Writer, recs []*slokeeper.BackupRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLASS\tACCOUNT\tDAY\tCREATED\tVERIFIED\tERASED")
	for _, b := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Class, cmp.Or(b.Account, "-"), b.Day, b.Created.Format(time.RFC3339), stamp(b.VerifiedAt), stamp(b.ErasedAt))
	}
	return tw.Flush()
}

// printSets prints the log backup sets of class ("": all), one line each.
func printSets(w io.Writer, sets []lifecycle.Set, class, lang string, loc *time.Location) error {
	i, head := 0, "セット\t日数\t検証済み\t状態\t作成\t最低保存期限\t消去期限"
	if lang == "en" {
		i, head = 1, "SET\tDAYS\tVERIFIED\tSTATE\tCREATED\tKEEP UNTIL\tERASE BY"
	}
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, head)
	for _, s := range sets {
		if class == "" || s.Class == class {
			fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Class, s.Period, s.Days, s.Verified, setStates[s.State][i], day(s.Created), day(s.Keep), day(s.Erase))
		}
	}
	return tw.Flush()
}

// restoreAll restores everything into a new data directory.
func restoreAll(ctx context.Context, lt *lifecycleTools, cfg Config, into, at string, stdout, stderr io.Writer) error {
	if into == "" {
		fmt.Fprint(stderr, "backup restore --all: --into DIR, a new data directory, is needed\n")
		return errUsage
	}
	var when time.Time
	if at != "" {
		var err error
		if when, err = parseAt(at, lt.Policy.Location()); err != nil {
			fmt.Fprintf(stderr, "backup restore: %v\n", err)
			return errUsage
		}
	}
	if entries, err := os.ReadDir(into); err == nil && len(entries) > 0 {
		return slokeeper.Errorf(slokeeper.ECONFLICT, "%s is not empty: a full restore goes into a new data directory.", into)
	}
	if _, err := lt.Ledger.Record(ctx, cliActor(), "backup.restore", "all", localDetail("into "+into+" "+at)); err != nil {
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
	logs, err := logstore.Open(ctx, logstore.Config{Dir: filepath.Join(into, "logs"), Catalog: sqlite.NewLogCatalog(db), Location: lt.Policy.Location()})
	if err != nil {
		return err
	}
	defer logs.Close()
	n := 0
	res, err := lt.exec.RestoreAll(ctx, reconcile.Destination{Logs: logs, Accounts: sqlite.NewAccountService(db)}, when, func(subject string) {
		n++
		fmt.Fprintf(stderr, "\rrestored %d backups: %-50s", n, subject)
	})
	fmt.Fprintln(stderr)
	if res != nil {
		for _, s := range res.Skipped {
			fmt.Fprintln(stderr, "skipped:", s)
		}
	}
	if err != nil {
		return fmt.Errorf("%s", slokeeper.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "restored %d log days (%d records) and %d accounts (%d items) into %s\n", res.Partitions, res.Records, res.Accounts, res.Items, into)
	if res.Empty > 0 {
		fmt.Fprintf(stdout, "recreated %d accounts without data (deleted, or never backed up)\n", res.Empty)
	}
	if res.Accounts > 0 {
		keys := "copy keys.db and master.key from " + cfg.Data + " into it"
		if cfg.KeysDB != "" {
			keys = "give it the same --keys-db and --master-key"
		}
		fmt.Fprintf(stdout, "The accounts' data stays encrypted under their keys, which backups never hold: to serve %s, %s.\n", into, keys)
	}
	return nil
}
