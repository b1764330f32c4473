package vault_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/ledger"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/vault"
	"slokeeper/policy"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type fixture struct {
	dir    string
	db     *sqlite.DB
	v      *vault.Vault
	clock  *clock
	ledger *ledger.Ledger
	actors map[string]vault.Actor
	keys   *keys.Manager
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	km, err := keys.Open(filepath.Join(dir, "master.key"), ks)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	l, err := ledger.Open(ledger.Config{Store: sqlite.NewAuditStore(db), Dir: filepath.Join(dir, "audit"), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	ops := sqlite.NewOperatorService(db)
	f := &fixture{dir: dir, db: db, clock: c, ledger: l, keys: km, actors: map[string]vault.Actor{}}
	for _, o := range []struct{ name, role string }{{"alice", "admin"}, {"bob", "admin"}, {"sam", "support"}, {"ann", "auditor"}} {
		op := &slokeeper.Operator{ID: "op_" + o.name, Name: o.name, Role: o.role, PasswordHash: "h", CreatedAt: c.Now()}
		if err := ops.CreateOperator(ctx, op); err != nil {
			t.Fatal(err)
		}
		f.actors[o.name] = vault.Actor{Operator: op, Label: "operator:" + o.name}
	}
	accounts := sqlite.NewAccountService(db)
	f.v = vault.New(vault.Config{
		Accounts: accounts, Grants: accounts, Operators: ops, Evidence: sqlite.NewEvidenceService(db), Crypto: km,
		Audit: func(ctx context.Context, actor, action, target, detail string) error {
			_, err := l.Record(ctx, actor, action, target, detail)
			return err
		},
		Policy: policy.Default(), Clock: c, Node: "test",
	})
	return f
}

func code(err error) string { return slokeeper.ErrorCode(err) }

func TestGrants(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, bob, sam, ann := f.actors["alice"], f.actors["bob"], f.actors["sam"], f.actors["ann"]
	if _, err := f.v.CreateAccount(ctx, alice, "acct-1", "Factory A"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.PutItem(ctx, alice, "acct-1", slokeeper.ItemCredential, "mqtt", []byte("mqtt-pass-7f3e")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.PutItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "x", []byte("y")); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("support writing = %v, want EFORBIDDEN", err)
	}

	// No grant: refused, with how to get one.
	_, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt")
	if code(err) != slokeeper.EFORBIDDEN || !strings.Contains(slokeeper.ErrorMessage(err), "Request one with a reason") {
		t.Fatalf("without a grant = %v", err)
	}
	if _, err := f.v.RequestGrant(ctx, sam, "acct-1", "credential", "customer ticket #42", 9*time.Hour); code(err) != slokeeper.EINVALID {
		t.Errorf("a grant longer than access.grant_max (8h) = %v", err)
	}
	if _, err := f.v.RequestGrant(ctx, ann, "acct-1", "credential", "just looking", time.Hour); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("an auditor asking for data = %v", err)
	}
	g, err := f.v.RequestGrant(ctx, sam, "acct-1", "credential", "customer ticket #42", 2*time.Hour)
	if err != nil || !g.ApprovedAt.IsZero() {
		t.Fatalf("request = %+v, %v", g, err)
	}
	if _, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt"); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("a pending grant opened data: %v", err)
	}
	if _, err := f.v.ApproveGrant(ctx, sam, g.ID); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("support approving = %v", err)
	}
	// The same admin cannot approve their own request.
	own, _ := f.v.RequestGrant(ctx, alice, "acct-1", "all", "incident 2026-12-03", time.Hour)
	if _, err := f.v.ApproveGrant(ctx, alice, own.ID); code(err) != slokeeper.EFORBIDDEN || !strings.Contains(slokeeper.ErrorMessage(err), "your own") {
		t.Errorf("approving one's own grant = %v", err)
	}
	if _, err := f.v.ApproveGrant(ctx, bob, g.ID); err != nil {
		t.Fatal(err)
	}
	pt, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt")
	if err != nil || string(pt) != "mqtt-pass-7f3e" {
		t.Fatalf("with an approved grant = %q, %v", pt, err)
	}
	if _, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemDocument, "flow"); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("a credential grant opened documents: %v", err)
	}
	// The read is in the ledger, with its grant.
	var reads []string
	sqlite.NewAuditStore(f.db).EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "data.read" {
			reads = append(reads, e.Actor+" "+e.Detail)
		}
		return nil
	})
	if len(reads) != 1 || reads[0] != "operator:sam credential/mqtt under grant "+g.ID {
		t.Errorf("ledger reads = %q", reads)
	}
	// Expired, or revoked: refused again.
	f.clock.Add(2*time.Hour + time.Second)
	if _, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt"); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("an expired grant = %v", err)
	}
	g2, _ := f.v.RequestGrant(ctx, sam, "acct-1", "all", "follow-up on ticket #42", time.Hour)
	f.v.ApproveGrant(ctx, bob, g2.ID)
	if _, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt"); err != nil {
		t.Fatal(err)
	}
	if err := f.v.RevokeGrant(ctx, sam, g2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.v.GetItem(ctx, sam, "acct-1", slokeeper.ItemCredential, "mqtt"); code(err) != slokeeper.EFORBIDDEN {
		t.Errorf("a revoked grant = %v", err)
	}
	if rep, _ := f.ledger.Verify(ctx); !rep.OK() {
		t.Errorf("ledger: %+v", rep.Problems)
	}
}

// TestDeletionShredsEveryCopy: a copy of the database taken before the
// deletion holds the ciphertext, and after the key is destroyed nothing
// decrypts it.
func TestDeletionShredsEveryCopy(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, bob := f.actors["alice"], f.actors["bob"]
	f.v.CreateAccount(ctx, alice, "acct-9", "Shop B")
	it, err := f.v.PutItem(ctx, alice, "acct-9", slokeeper.ItemDocument, "flow-1", []byte(`{"nodes":["mqtt in","function"]}`))
	if err != nil {
		t.Fatal(err)
	}
	backup := copyDB(t, f)

	a, err := f.v.RequestDeletion(ctx, alice, "acct-9")
	if err != nil || a.Status != "deleting" || !a.DeletionDueAt.Equal(f.clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("RequestDeletion = %+v, %v", a, err)
	}
	if _, err := f.v.PutItem(ctx, alice, "acct-9", slokeeper.ItemDocument, "flow-2", []byte("{}")); code(err) != slokeeper.ECONFLICT {
		t.Errorf("writing to an account being deleted = %v", err)
	}
	// Cancelled, and requested again.
	if _, err := f.v.CancelDeletion(ctx, bob, "acct-9"); err != nil {
		t.Fatal(err)
	}
	f.v.RequestDeletion(ctx, alice, "acct-9")
	f.clock.Add(7*24*time.Hour - time.Minute)
	if _, err := f.v.EraseAccountData(ctx, "acct-9"); code(err) != slokeeper.ECONFLICT {
		t.Fatalf("erasing before the window ended = %v, want ECONFLICT", err)
	}
	if err := f.v.DestroyAccountKey(ctx, "acct-9"); code(err) != slokeeper.ECONFLICT {
		t.Fatalf("destroying the key before the window ended = %v, want ECONFLICT", err)
	}
	f.v.CreateAccount(ctx, alice, "acct-10", "Shop C")
	if _, err := f.v.EraseAccountData(ctx, "acct-10"); code(err) != slokeeper.ECONFLICT {
		t.Fatalf("erasing an active account = %v, want ECONFLICT", err)
	}
	f.clock.Add(2 * time.Minute)
	if err := f.v.DestroyAccountKey(ctx, "acct-9"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.v.EraseAccountData(ctx, "acct-9"); err != nil || n != 1 {
		t.Fatalf("EraseAccountData = %d, %v", n, err)
	}
	// Both again, as after a crash: harmless.
	if err := f.v.DestroyAccountKey(ctx, "acct-9"); err != nil {
		t.Errorf("destroying a destroyed key = %v", err)
	}
	if n, err := f.v.EraseAccountData(ctx, "acct-9"); err != nil || n != 0 {
		t.Errorf("erasing again = %d, %v", n, err)
	}
	if as, _ := sqlite.NewAccountService(f.db).FindAccounts(ctx, slokeeper.AccountFilter{ID: "acct-9"}); len(as) != 1 || as[0].Status != slokeeper.AccountDeleted || as[0].DeletedAt.IsZero() {
		t.Errorf("after erasure the account is %+v", as)
	}
	if _, err := f.v.CancelDeletion(ctx, bob, "acct-9"); code(err) != slokeeper.ECONFLICT {
		t.Errorf("cancelling after erasure = %v", err)
	}
	// The copy still has the ciphertext; nothing opens it.
	old, err := sqlite.NewAccountService(backup).GetAccountItem(ctx, "acct-9", slokeeper.ItemDocument, "flow-1")
	if err != nil || !bytes.Equal(old.Ciphertext, it.Ciphertext) {
		t.Fatalf("the copy lost the ciphertext: %v", err)
	}
	if _, err := f.keys.Decrypt(ctx, "acct-9", old.Ciphertext, old.AssociatedData()); err != keys.ErrShredded {
		t.Errorf("decrypting the copy after deletion = %v, want ErrShredded", err)
	}
	ev, _, _ := sqlite.NewEvidenceService(f.db).FindEvidence(ctx, slokeeper.EvidenceFilter{Clause: policy.ClauseUserData})
	var actions []string
	for _, e := range ev {
		actions = append(actions, e.Action+":"+e.Outcome)
	}
	if want := "account.deletion_requested:ok account.deletion_cancelled:ok account.deletion_requested:ok"; strings.Join(actions, " ") != want {
		t.Errorf("evidence = %s\nwant %s", strings.Join(actions, " "), want)
	}
}

func copyDB(t *testing.T, f *fixture) *sqlite.DB {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"slokeeper.db", "slokeeper.db-wal"} {
		in, err := os.Open(filepath.Join(f.dir, name))
		if err != nil {
			continue
		}
		out, _ := os.Create(filepath.Join(dir, name))
		io.Copy(out, in)
		in.Close()
		out.Close()
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "slokeeper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestNoPlaintextSecretOnDisk writes a known secret and scans every file
// slokeeper keeps: the database and its WAL, the key store, the master key,
// the audit ledger's files.
func TestNoPlaintextSecretOnDisk(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	secret := "SECRET-canary-9a8b7c6d-パスワード"
	f.v.CreateAccount(ctx, f.actors["alice"], "acct-5", "Lab C")
	for _, kind := range []string{slokeeper.ItemCredential, slokeeper.ItemData, slokeeper.ItemDocument} {
		if _, err := f.v.PutItem(ctx, f.actors["alice"], "acct-5", kind, "k", []byte(`{"v":"`+secret+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	f.ledger.Checkpoint(ctx)
	var scanned int
	filepath.Walk(f.dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		scanned++
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("canary-9a8b7c6d")) {
			t.Errorf("%s holds the secret in plaintext", path)
		}
		return nil
	})
	if scanned < 5 {
		t.Errorf("scanned only %d files", scanned)
	}
}

// TestPutItemRefusesInvalidDocument: "a document is JSON" is the
// service's rule, so the CLI and HTTP both get it.
func TestPutItemRefusesInvalidDocument(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice := f.actors["alice"]
	if _, err := f.v.CreateAccount(ctx, alice, "acct-j", "Shop J"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.PutItem(ctx, alice, "acct-j", slokeeper.ItemDocument, "flow", []byte(`{"nodes": [`)); code(err) != slokeeper.EINVALID {
		t.Errorf("PutItem(invalid JSON document) = %v, want EINVALID", err)
	}
	if items, _ := f.v.ListItems(ctx, alice, "acct-j", slokeeper.ItemDocument); len(items) != 0 {
		t.Errorf("an invalid document was stored: %+v", items)
	}
	if _, err := f.v.PutItem(ctx, alice, "acct-j", slokeeper.ItemData, "raw", []byte(`{"nodes": [`)); err != nil {
		t.Errorf("PutItem(data, not JSON) = %v; only documents are JSON", err)
	}
}

// TestGrantRefusalReads: the refusal without a grant names what was
// asked for in plain words, whatever the kind (once "data data").
func TestGrantRefusalReads(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, sam := f.actors["alice"], f.actors["sam"]
	if _, err := f.v.CreateAccount(ctx, alice, "acct-r", "Shop R"); err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{
		slokeeper.ItemData:       "Reading the data items of account acct-r needs an access grant.",
		slokeeper.ItemDocument:   "Reading the documents of account acct-r needs an access grant.",
		slokeeper.ItemCredential: "Reading the credentials of account acct-r needs an access grant.",
		"":                       "Reading the items of account acct-r needs an access grant.",
	} {
		_, err := f.v.ListItems(ctx, sam, "acct-r", kind)
		msg := slokeeper.ErrorMessage(err)
		if code(err) != slokeeper.EFORBIDDEN || !strings.HasPrefix(msg, want) {
			t.Errorf("ListItems(%q) without a grant = %v, want EFORBIDDEN starting %q", kind, err, want)
		}
		words := strings.Fields(msg)
		for i := 1; i < len(words); i++ {
			if strings.EqualFold(words[i-1], words[i]) {
				t.Errorf("ListItems(%q): %q says %q twice", kind, msg, words[i])
			}
		}
	}
}

// TestDeletionEvidenceNeverLost: while the evidence store refuses
// inserts, a deletion request (or its cancellation) fails visibly and
// leaves the account as it was; once the store is back it succeeds with
// its evidence. Never done without evidence.
func TestDeletionEvidenceNeverLost(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	alice, bob := f.actors["alice"], f.actors["bob"]
	if _, err := f.v.CreateAccount(ctx, alice, "acct-e", "Shop E"); err != nil {
		t.Fatal(err)
	}
	refuse := func(on bool) {
		t.Helper()
		q := `DROP TRIGGER refuse_evidence`
		if on {
			q = `CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'evidence store unavailable'); END`
		}
		if _, err := f.db.Writer().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	evidence := func(action string) int {
		t.Helper()
		es, _, err := sqlite.NewEvidenceService(f.db).FindEvidence(ctx, slokeeper.EvidenceFilter{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	status := func() string {
		t.Helper()
		as, err := sqlite.NewAccountService(f.db).FindAccounts(ctx, slokeeper.AccountFilter{ID: "acct-e"})
		if err != nil || len(as) != 1 {
			t.Fatal(as, err)
		}
		return as[0].Status
	}

	refuse(true)
	if _, err := f.v.RequestDeletion(ctx, alice, "acct-e"); err == nil {
		t.Fatal("RequestDeletion succeeded though its evidence could not be recorded")
	}
	if s := status(); s != slokeeper.AccountActive {
		t.Errorf("after a refused deletion the account is %s, want active", s)
	}
	refuse(false)
	if _, err := f.v.RequestDeletion(ctx, alice, "acct-e"); err != nil {
		t.Fatal(err)
	}
	if n := evidence("account.deletion_requested"); n != 1 || status() != slokeeper.AccountDeleting {
		t.Errorf("deletion requested: %d evidence, account %s; want 1 and deleting", n, status())
	}

	refuse(true)
	if _, err := f.v.CancelDeletion(ctx, bob, "acct-e"); err == nil {
		t.Fatal("CancelDeletion succeeded though its evidence could not be recorded")
	}
	if s := status(); s != slokeeper.AccountDeleting {
		t.Errorf("after a refused cancellation the account is %s, want deleting", s)
	}
	refuse(false)
	if _, err := f.v.CancelDeletion(ctx, bob, "acct-e"); err != nil {
		t.Fatal(err)
	}
	if n := evidence("account.deletion_cancelled"); n != 1 || status() != slokeeper.AccountActive {
		t.Errorf("deletion cancelled: %d evidence, account %s; want 1 and active", n, status())
	}
}
