package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/internal/backup"
	"slokeeper/internal/httpserver"
	"slokeeper/internal/ingest"
	"slokeeper/internal/jobs"
	"slokeeper/internal/keys"
	"slokeeper/internal/ledger"
	"slokeeper/internal/logstore"
	"slokeeper/internal/monitor"
	"slokeeper/internal/mqtt"
	"slokeeper/internal/notify"
	"slokeeper/internal/postgres"
	"slokeeper/internal/probe"
	"slokeeper/internal/reconcile"
	"slokeeper/internal/redact"
	"slokeeper/internal/schedule"
	"slokeeper/internal/selflog"
	"slokeeper/internal/smtp"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/vault"
	"slokeeper/internal/webhook"
	"slokeeper/obligation"
	"slokeeper/policy"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Main is a running slokeeper node: its configuration and components.
// Run wires them by plain assignment; Close takes them down in reverse.
type Main struct {
	Config Config
	Logger *slog.Logger
	Clock  slokeeper.Clock
	// Console is where one-time secrets (the bootstrap password) are shown
	// to the person starting the server: never the logger, whose records
	// are stored.
	Console io.Writer

	Policy *policy.Policy
	Store  *Store
	Logs   *logstore.Store
	MQTT   *mqtt.Subscriber

	stopDrain func()         // stops draining retired nodes' MQTT sessions
	drainWG   sync.WaitGroup // the drain

	syncMu      sync.Mutex // guards the synchronous replication check
	syncChecked time.Time
	syncState   string

	HTTP *httpserver.Server
	Jobs *jobs.Runner
	// Heartbeat is this node's own beat and self-check (nodes.go).
	Heartbeat *jobs.Heartbeat
	// Lifecycle carries out the policy's backups and erasures (a job).
	Lifecycle *reconcile.Executor
	Monitor   *monitor.Monitor
	Ledger    *ledger.Ledger
	Keys      *keys.Manager
	Vault     *vault.Vault
	// Notifier delivers notices to subscribers.
	Notifier *notify.Notifier
	Mailer   *smtp.Mailer // nil without --smtp

	selflog        *selflog.Handler
	stopCheckpoint func()
	stopProbes     func()
	stopNotify     func()
	policyYAML     []byte
	closeOnce      sync.Once
	closeErr       error
	closeKeys      func() error
	// logWriteAt replaces the log store's file writes (tests: a full disk).
	logWriteAt func(f *os.File, b []byte, off int64) (int, error)
}

// every runs fn every interval on a goroutine until the returned stop is
// called; stop waits for a run under way to finish.
func every(interval time.Duration, fn func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(quit); <-done }
}

// startCheckpoints signs a checkpoint of the audit ledger every
// security.checkpoint_every, until Close, which signs a last one.
func (m *Main) startCheckpoints() {
	now := m.Clock.Now()
	checkpoint := func(when string) {
		if _, err := m.Ledger.Checkpoint(context.Background()); err != nil {
			m.Logger.Error("audit checkpoint"+when, "err", err)
		}
	}
	stop := every(m.Policy.Security.CheckpointEvery.AddTo(now).Sub(now), func() { checkpoint("") })
	m.stopCheckpoint = func() { stop(); checkpoint(" at shutdown") }
}

// node names this node: the configured name or the host name.
func (m *Main) node() string {
	if m.Config.Node != "" {
		return m.Config.Node
	}
	h, _ := os.Hostname()
	return h
}

// NewMain returns a Main with defaults, logging to stderr.
func NewMain(cfg Config, stderr io.Writer) *Main {
	return &Main{Config: cfg, Logger: newLogger(cfg, stderr), Clock: slokeeper.SystemClock{}, Console: stderr}
}

// openLocalMain returns the part of a Main that commands working on a
// store without a server need: the policy, the ledger, the cluster's keys
// and the vault; no listener, jobs or probes. Its logger discards. Close
// it with m.closeKeys, then the store.
func openLocalMain(ctx context.Context, cfg Config, store *Store) (*Main, error) {
	m := &Main{Config: cfg, Store: store, Clock: slokeeper.SystemClock{}, Logger: discardLogger(), Console: io.Discard}
	var err error
	if m.Policy, err = loadPolicy(cfg.Policy, m.Logger); err != nil {
		return nil, err
	}
	if m.Ledger, err = openLedger(cfg, store, m.Clock); err != nil {
		return nil, err
	}
	if m.Keys, m.closeKeys, err = openClusterKeys(ctx, cfg, store); err != nil {
		return nil, err
	}
	m.Vault = m.newVault()
	return m, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated with the config
	opts := &slog.HandlerOptions{Level: level}
	// Every record is redacted (URL passwords, password=… values) before
	// it is written, whoever logged it: a library's error text included.
	if cfg.LogFormat == "json" {
		return slog.New(redact.NewHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(redact.NewHandler(slog.NewTextHandler(w, opts)))
}

// Run opens the store, starts serving HTTP and starts the job queue. On
// error everything already opened is closed again.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close(context.WithoutCancel(ctx))
		}
	}()
	if m.Policy, err = loadPolicy(m.Config.Policy, m.Logger); err != nil {
		return err
	}
	if _, m.policyYAML, err = readPolicy(m.Config.Policy); err != nil {
		return err
	}
	// Refuse a bad listen configuration before creating anything on disk.
	if err := httpserver.CheckListen(m.Config.Listen, m.Config.TLSCert, m.Config.TLSKey, m.Config.InsecureHTTP); err != nil {
		return err
	}
	if m.Store, err = openStore(ctx, m.Config, m.Logger.With("component", "postgres")); err != nil {
		return err
	}
	m.checkSyncReplication(ctx)
	if m.Keys, m.closeKeys, err = openKeys(ctx, m.Config); err != nil {
		return err
	}
	if err := checkMasterKey(ctx, m.Store.Nodes, m.Keys, masterKeyPath(m.Config)); err != nil {
		return err
	}
	if m.Ledger, err = openLedger(m.Config, m.Store, m.Clock); err != nil {
		return err
	}
	// A policy in force is a sensitive fact: no start without its record.
	if _, err := m.Ledger.Record(ctx, "system:"+m.node(), "policy.load", "policy:"+m.Policy.Service.Name.EN,
		fmt.Sprintf("sha256 %x", sha256.Sum256(m.policyYAML))); err != nil {
		return err
	}
	m.startCheckpoints()
	if m.Store.Engine == "postgres" && m.Config.KeysDB == "" {
		m.Logger.Warn("account keys are in this node's DATA/keys.db: with several nodes, give every node --keys-db, a PostgreSQL database of its own that backups never copy")
	}
	m.Vault = m.newVault()
	if m.Logs, err = logstore.Open(ctx, m.logstoreConfig()); err != nil {
		return err
	}
	if _, err := m.migrateLocalLogs(ctx); err != nil {
		return fmt.Errorf("move this node's local log partitions into the shared log store (run `slokeeper logs migrate` to retry): %w", err)
	}
	// From here on slokeeper's own logs are system logs too.
	m.selflog = selflog.New(m.Logger.Handler(), m.Logs, "slokeeper/"+m.node())
	m.Logger = slog.New(redact.NewHandler(m.selflog)) // redacted before it is stored, too
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "slokeeper_build_info", Help: "Always 1; labels name the build and store engine.",
			ConstLabels: prometheus.Labels{"version": Version(), "engine": m.Store.Engine},
		}, func() float64 { return 1 }),
	)
	if err := m.startProbes(); err != nil {
		return err
	}
	if err := m.openNotifier(); err != nil {
		return err
	}
	m.HTTP = &httpserver.Server{
		Addr: m.Config.Listen, TLSCert: m.Config.TLSCert, TLSKey: m.Config.TLSKey, InsecureHTTP: m.Config.InsecureHTTP,
		Policy: m.Policy, Evidence: m.Store.Evidence, Ready: m.ready, Registry: registry,
		Version: Version(), Logger: m.Logger.With("component", "http"),
		Logs: m.Logs, Sources: m.Store.Sources, Clock: m.Clock, IngestRate: m.Config.IngestRate,
		Operators: m.Store.Operators, Secrets: m.Keys, Vault: m.Vault, Audit: m.audit, Monitor: m.Monitor, Components: m.Store.Components, Schedule: m.schedule(), Brand: m.Config.brand(),
		Incidents: m.Store.Incidents, Node: m.node(),
		Nodes: m.Store.Nodes, NodeTimeout: nodeTimeout(m.Config), NodeAlert: func(ctx context.Context) (string, error) { return jobs.Alert(ctx, m.Store.Nodes) },
		Subscriptions: m.Notifier, Notices: m.Store.Notices, EmailNotices: m.Mailer != nil,
		HashConcurrency: m.Config.LoginHashConcurrency,
		Lifecycle:       lifecycleService{m},
		Drills:          lifecycleService{m},
		AuditLog:        m.Store.Audit, VerifyAudit: m.verifyAudit, CheckpointAudit: m.Ledger.Checkpoint, AuditVerifierKey: m.Ledger.VerifierKey,
		Accounts: m.Store.Accounts, Grants: m.Store.Grants,
	}
	if m.HTTP.TrustedProxies, err = httpserver.ParseTrustedProxies(m.Config.TrustedProxies); err != nil {
		return err
	}
	m.setLimits(m.HTTP)
	if err := m.HTTP.Open(); err != nil {
		m.HTTP = nil
		return err
	}
	if m.Config.SiteURL == "" {
		m.Notifier.SetSite(m.HTTP.URL() + "/")
	}
	// Only once the listener is bound: a start that fails to bind must
	// leave no administrator whose one-time password nobody saw.
	if err := m.bootstrapAdmin(ctx); err != nil {
		return err
	}
	if err := m.startNotify(ctx); err != nil {
		return err
	}
	m.startHeartbeat(ctx)
	if m.Config.MQTT != "" {
		m.MQTT, err = mqtt.Open(ctx, mqtt.Config{
			URL: m.Config.MQTT, ClientID: "slokeeper-" + m.node(), ShareGroup: m.Config.MQTTShareGroup, Logs: m.Logs, Sources: m.Store.Sources,
			Logger: m.Logger.With("component", "mqtt"), MaxPayload: int(m.Config.MQTTMaxPayload), Rate: m.HTTP.Rate,
		})
		if err != nil {
			return err
		}
		m.drainRetired(ctx)
	}
	target, err := openTargetLenient(ctx, m.Config, m.Logger)
	if err != nil {
		return err
	}
	m.logTarget(ctx, target)
	m.Lifecycle = m.newExecutor(m.Logs, target)
	m.Jobs, err = m.Store.NewRunner(ctx, jobs.Config{
		Evidence: m.Store.Evidence, Ready: m.Store.Ready, Clock: m.Clock, Node: m.node(),
		SelfCheckInterval: time.Duration(m.Config.SelfCheckInterval), Logger: m.Logger,
		LifecycleInterval: time.Duration(m.Config.LifecycleInterval),
		Lifecycle:         m.lifecyclePass(),
	})
	if err != nil {
		return err
	}
	if err := m.Jobs.Start(ctx); err != nil {
		m.Jobs = nil
		return fmt.Errorf("start jobs: %w", err)
	}
	return nil
}

// ready is /readyz: the database reachable and migrated, and the data
// directory's disk with at least min_free_space free.
func (m *Main) ready(ctx context.Context) error {
	if err := m.Store.Ready(ctx); err != nil {
		return err
	}
	m.checkSyncReplication(ctx)
	min := uint64(m.Config.MinFreeSpace)
	if min == 0 {
		min = logstore.DefaultMinFreeSpace
	}
	return m.Logs.CheckSpace(min)
}

// drainRetired empties, in the background, the MQTT sessions of the
// retired nodes mqtt_drain_nodes names, so that what the broker queued for
// them is stored and nothing more waits there. Close stops it.
func (m *Main) drainRetired(ctx context.Context) {
	names := m.Config.drainNodes()
	if len(names) == 0 {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	m.stopDrain = cancel
	m.drainWG.Go(func() {
		defer cancel()
		for _, name := range names {
			n, err := mqtt.Drain(dctx, mqtt.Config{
				URL: m.Config.MQTT, ClientID: "slokeeper-" + name, ShareGroup: m.Config.MQTTShareGroup, Logs: m.Logs, Sources: m.Store.Sources,
				Logger: m.Logger.With("component", "mqtt"), MaxPayload: int(m.Config.MQTTMaxPayload), Rate: m.HTTP.Rate,
			}, 5*time.Second)
			if err != nil {
				m.Logger.Error("mqtt: draining a retired node's session failed; it is tried again at the next start", "node", name, "messages", n, "err", err)
			}
		}
	})
}

// syncCheckEvery bounds how often /readyz reads the replication settings.
const syncCheckEvery = time.Minute

// checkSyncReplication, when the policy asks for synchronous replication
// and the store is PostgreSQL, reads whether the server makes commits wait
// for a standby, and says so when it does not: at start, and on /readyz
// (at most once a minute). It does
// not make the node unready: every node would leave the load balancer for
// a setting only the database's operator can change.
func (m *Main) checkSyncReplication(ctx context.Context) {
	if !m.Policy.Redundancy.SynchronousReplication || m.Store.SyncReplication == nil {
		return
	}
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	now := m.Clock.Now()
	if !m.syncChecked.IsZero() && now.Sub(m.syncChecked) < syncCheckEvery {
		return
	}
	m.syncChecked = now
	inForce, detail, err := m.Store.SyncReplication(ctx)
	switch {
	case err != nil:
		m.Logger.Warn("could not read whether PostgreSQL replicates synchronously, which the policy asks for (redundancy.synchronous_replication)", "err", err)
	case !inForce:
		m.Logger.Warn("the policy asks for synchronous replication (redundancy.synchronous_replication) but the database does not wait for a standby: a failover can lose acknowledged writes; set synchronous_standby_names (and synchronous_commit = on) on the primary", "settings", detail)
	case m.syncState != "in force":
		m.Logger.Info("synchronous replication is in force, as the policy asks", "settings", detail)
	}
	switch {
	case err != nil:
		m.syncState = "unknown"
	case inForce:
		m.syncState = "in force"
	default:
		m.syncState = "not in force"
	}
}

// setLimits gives the HTTP server the configured request limits (zero:
// its defaults) and the per-source rate it shares with MQTT.
func (m *Main) setLimits(h *httpserver.Server) {
	c := m.Config
	h.MaxBody, h.MaxDecoded, h.MaxRecords = int64(c.IngestMaxBody), int64(c.IngestMaxDecoded), c.IngestMaxRecords
	h.MaxIngestInFlight, h.IngestMinRate, h.IngestRateWindow = c.IngestInFlight, int64(c.IngestMinRate), time.Duration(c.IngestRateWindow)
	h.BodyTimeout, h.ReadHeaderTimeout, h.IdleTimeout = time.Duration(c.BodyTimeout), time.Duration(c.ReadHeaderTimeout), time.Duration(c.IdleTimeout)
	h.AgentManagerPrefix = c.AgentManagerPrefix
	h.Rate = ingest.NewRateLimiter(h.IngestRate, m.Clock)
	if h.IngestRate == 0 {
		h.Rate = ingest.NewRateLimiter(httpserver.DefaultIngestRate, m.Clock)
	}
}

// Close stops accepting requests, waits until ctx ends for in-flight
// requests and running jobs, and closes the store. Closing twice is safe.
func (m *Main) Close(ctx context.Context) error {
	m.closeOnce.Do(func() { m.closeErr = m.close(ctx) })
	return m.closeErr
}

func (m *Main) close(ctx context.Context) error {
	var errs []error
	if m.HTTP != nil {
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.stopDrain != nil {
		m.stopDrain()
		m.drainWG.Wait()
	}
	if m.MQTT != nil {
		errs = append(errs, m.MQTT.Close(ctx))
	}
	if m.Jobs != nil {
		errs = append(errs, m.Jobs.Stop(ctx))
	}
	if m.Heartbeat != nil {
		m.Heartbeat.Stop()
	}
	if m.stopProbes != nil {
		m.stopProbes()
	}
	if m.stopNotify != nil {
		m.stopNotify()
	}
	if m.Mailer != nil {
		m.Mailer.Close()
	}
	if m.Notifier != nil {
		m.Notifier.Close()
	}
	if m.selflog != nil {
		m.selflog.Close()
	}
	if m.stopCheckpoint != nil {
		m.stopCheckpoint()
	}
	if m.Logs != nil {
		errs = append(errs, m.Logs.Close())
	}
	if m.closeKeys != nil {
		errs = append(errs, m.closeKeys())
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

// verifyAudit verifies the ledger for the console.
func (m *Main) verifyAudit(ctx context.Context) (*httpserver.AuditVerify, error) {
	rep, err := m.Ledger.Verify(ctx)
	if err != nil {
		return nil, err
	}
	v := verifyReport(rep)
	return v, nil
}

// audit records a sensitive action in the ledger.
func (m *Main) audit(ctx context.Context, actor, action, target, detail string) error {
	_, err := m.Ledger.Record(ctx, actor, action, target, detail)
	return err
}

// startProbes checks the components every second that one is due (judged
// by the injected clock), until Close.
func (m *Main) startProbes() error {
	_, targets, err := m.Config.targetPolicies()
	if err != nil {
		return err
	}
	m.Monitor = monitor.New(monitor.Config{Components: m.Store.Components, Prober: probe.New(m.Clock, nil, targets), Clock: m.Clock,
		Node: m.node(), Policy: m.Policy, Maintenance: m.Store.Maintenance, Incidents: m.Store.Incidents, Evidence: m.Store.Evidence, Logger: m.Logger,
		Nodes: m.Store.Nodes, NodeTimeout: nodeTimeout(m.Config)})
	m.stopProbes = every(time.Second, func() {
		if _, err := m.Monitor.Tick(context.Background()); err != nil {
			m.Logger.Error("probes", "err", err)
		}
	})
	return nil
}

// openNotifier sets up notices: the mail server if one is configured,
// webhooks always.
func (m *Main) openNotifier() error {
	if m.Config.SMTP != "" {
		cfg, err := smtp.ParseURL(m.Config.SMTP)
		if err != nil {
			return err
		}
		cfg.Password = m.Config.SMTPPassword
		if m.Config.SMTPCA != "" {
			pem, err := os.ReadFile(m.Config.SMTPCA)
			if err != nil {
				return fmt.Errorf("smtp CA: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("smtp CA: %s holds no PEM certificate", m.Config.SMTPCA)
			}
		}
		if m.Mailer, err = smtp.New(cfg); err != nil {
			return err
		}
		m.Logger.Info("notices by e-mail", "server", cfg.Describe(), "from", cfg.From)
	}
	ncfg := notify.Config{Store: m.Store.Notices, Incidents: m.Store.Incidents, Maintenance: m.Store.Maintenance, Components: m.Store.Components,
		Evidence: m.Store.Evidence, Secrets: m.Keys, Policy: m.Policy, Site: m.Config.SiteURL, Clock: m.Clock, Node: m.node(), Logger: m.Logger,
		Journal: filepath.Join(m.Config.Data, "handover.journal")}
	if m.Mailer != nil {
		ncfg.Mailer = m.Mailer
	}
	targets, _, err := m.Config.targetPolicies()
	if err != nil {
		return err
	}
	ncfg.Webhooks = &webhook.Sender{Targets: targets}
	m.Notifier, err = notify.New(ncfg)
	return err
}

// startNotify frees what this node was sending when it last stopped, then
// delivers the outbox every second until Close. Close cancels the work
// under way between messages; a message being sent is finished.
func (m *Main) startNotify(ctx context.Context) error {
	if err := m.Notifier.Recover(ctx); err != nil {
		return err
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var pruned time.Time
	stop := every(time.Second, func() {
		if err := m.Notifier.Tick(nctx); err != nil && nctx.Err() == nil {
			m.Logger.Error("notices", "err", err)
		}
		if now := m.Clock.Now(); now.Sub(pruned) > time.Hour {
			if err := m.Notifier.Prune(nctx); err != nil && nctx.Err() == nil {
				m.Logger.Error("pruning sent notices", "err", err)
			}
			pruned = now
		}
	})
	m.stopNotify = func() { cancel(); stop() }
	return nil
}

// schedule returns the maintenance scheduler over Main's store.
func (m *Main) schedule() *schedule.Service {
	return &schedule.Service{Store: m.Store.Maintenance, Components: m.Store.Components, Policy: m.Policy, Audit: m.audit, Clock: m.Clock}
}

// newVault returns the account-data service over Main's store and keys.
func (m *Main) newVault() *vault.Vault {
	return vault.New(vault.Config{
		Accounts: m.Store.Accounts, Grants: m.Store.Grants, Operators: m.Store.Operators, Evidence: m.Store.Evidence,
		Crypto: m.Keys, Audit: m.audit, Policy: m.Policy, Clock: m.Clock, Node: m.node(),
	})
}

// newExecutor returns the lifecycle executor over this log store and
// backup target, with Main's keys, catalog and evidence.
func (m *Main) newExecutor(logs *logstore.Store, target slokeeper.BlobStore) *reconcile.Executor {
	bk := backup.New(backup.Config{Target: target, Logs: logs, Sealer: m.Keys, Accounts: m.Store.Accounts, Crypto: m.Keys,
		Expiry: reconcile.Expiry(m.Policy), Clock: m.Clock})
	return reconcile.New(reconcile.Config{Policy: m.Policy, Logs: logs, Backups: bk, Catalog: m.Store.Backups,
		Evidence: m.Store.Evidence, Accounts: m.Store.Accounts, Keys: m.Keys, Vault: m.Vault, Clock: m.Clock, Node: m.node(),
		ActionTimeout: time.Duration(m.Config.LifecycleActionTimeout), Lock: m.Store.PassLock, LockWait: passLockWait,
		Scratch: drillScratch(filepath.Join(m.Config.Data, "drills"), m.Policy.Location())})
}

// bootstrapAdmin creates the first administrator when there is no
// operator, and shows the one-time password on the console. It must be
// changed at the first sign-in. Run calls it once the listener is bound,
// so the password is shown by a server that can be signed in to.
func (m *Main) bootstrapAdmin(ctx context.Context) error {
	if n, err := m.Store.Operators.CountOperators(ctx); err != nil || n > 0 {
		return err
	}
	password := auth.NewPassword()
	op, err := newOperator("admin", slokeeper.RoleAdmin, password, m.Clock.Now())
	if err != nil {
		return err
	}
	if _, err := m.Ledger.Record(ctx, "system:"+m.node(), "operator.bootstrap", "operator:admin", "the first administrator"); err != nil {
		return err
	}
	if err := m.Store.Operators.CreateOperator(ctx, op); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
			return nil // another node bootstrapped at the same moment
		}
		return err
	}
	fmt.Fprintf(m.Console, "\nslokeeper: created the first administrator. Sign in and choose a new password:\n"+
		"最初の管理者を作成しました。サインインして新しいパスワードを設定してください。\n  name:     admin\n  password: %s\n\n", password)
	return nil
}

// lifecyclePass is the lifecycle job's work: every lifecycle_interval
// (none when it is 0), and whenever "slokeeper lifecycle run" asks for a
// pass beside the running server. Its results are the job's output.
// After the pass, with e-mail configured, it reminds the admins of the
// periodic reviews that fall due (obligation.Reminders): the job runs on
// one node at a time, so each reminder goes out once.
func (m *Main) lifecyclePass() func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		res, err := m.Lifecycle.Run(ctx)
		if m.Mailer != nil {
			if _, rerr := obligation.Reminders(ctx, m.Policy, m.Store.Evidence, m.Store.Audit, m.Store.Operators, m.Mailer,
				m.Config.SiteURL, m.node(), m.Clock.Now()); rerr != nil {
				m.Logger.Error("reminding admins of periodic reviews", "err", rerr)
			}
		}
		return newPassReport(res, err), err
	}
}

// logstoreConfig is where the log store lives, its days counted in the
// policy's time zone: with SQLite in the data directory's logs/; with
// PostgreSQL in the database every node shares (the data directory only
// stages imports), so that every node reads every record.
func (m *Main) logstoreConfig() logstore.Config {
	cfg := logstore.Config{
		Dir: filepath.Join(m.Config.Data, "logs"), Catalog: m.Store.LogCatalog, Location: m.Policy.Location(),
		Clock: m.Clock, Logger: m.Logger.With("component", "logstore"), WriteAt: m.logWriteAt,
	}
	if m.Store.LogBlocks != nil {
		cfg.Dir, cfg.Blocks, cfg.Node = m.Config.Data, m.Store.LogBlocks, m.node()
	}
	return cfg
}

// migrateLocalLogs moves a node's local log partitions (DATA/logs, from
// before its database was PostgreSQL) into the shared log store, then
// moves the directory aside. Nothing to do without either.
func (m *Main) migrateLocalLogs(ctx context.Context) (*logstore.MigrateReport, error) {
	if m.Store.LogBlocks == nil {
		return &logstore.MigrateReport{}, nil
	}
	return m.Logs.MigrateLocal(ctx, filepath.Join(m.Config.Data, "logs"))
}

// Store is the storage engine chosen by the configuration, with what the
// rest of slokeeper needs from it.
type Store struct {
	Engine      string // "sqlite" or "postgres"
	Description string // where it is, without credentials
	// Services are the storage services, as the engine's NewServices
	// builds them (the conformance suite runs the same bundle).
	slokeeper.Services
	Ready func(context.Context) error
	// SyncReplication says whether commits wait for a standby (PostgreSQL
	// only; nil on SQLite).
	SyncReplication func(context.Context) (inForce bool, detail string, err error)
	NewRunner       func(context.Context, jobs.Config) (*jobs.Runner, error)
	NewQueue        func() (*jobs.Queue, error) // inserts jobs for a running server
	Close           func() error
}

// OpenStore opens the store the configuration names: SQLite in the data
// directory by default, PostgreSQL for a postgres:// DSN.
func OpenStore(ctx context.Context, cfg Config) (*Store, error) { return openStore(ctx, cfg, nil) }

// openStore is OpenStore; on PostgreSQL, logger (if not nil) hears which
// server the connections reach, at start and after a failover.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	isSQLite := cfg.DB == "" || strings.HasPrefix(cfg.DB, "sqlite:")
	if !isSQLite && !strings.HasPrefix(cfg.DB, "postgres://") && !strings.HasPrefix(cfg.DB, "postgresql://") {
		scheme, _, _ := strings.Cut(cfg.DB, ":")
		return nil, fmt.Errorf("--db: unknown database kind %q: leave it empty for SQLite in the data directory, or give postgres://user@host/db", scheme)
	}
	// 0700: the data directory holds customer data, logs and evidence.
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	switch {
	case isSQLite:
		path := strings.TrimPrefix(cfg.DB, "sqlite:")
		if path == "" {
			path = filepath.Join(cfg.Data, "slokeeper.db")
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		return &Store{
			Engine: "sqlite", Description: path, Services: sqlite.NewServices(db), Ready: db.Ready, Close: db.Close,
			NewRunner: func(ctx context.Context, c jobs.Config) (*jobs.Runner, error) {
				return jobs.NewSQLite(ctx, db.Writer(), c)
			},
			NewQueue: func() (*jobs.Queue, error) { return jobs.NewSQLiteQueue(db.Writer()) },
		}, nil
	case strings.HasPrefix(cfg.DB, "postgres://"), strings.HasPrefix(cfg.DB, "postgresql://"):
		db, err := postgres.OpenLogged(ctx, cfg.DB, logger)
		if err != nil {
			return nil, err
		}
		return &Store{
			Engine: "postgres", Description: db.Describe(), Services: postgres.NewServices(db), Ready: db.Ready, Close: db.Close,
			SyncReplication: db.SyncReplication,
			NewRunner: func(ctx context.Context, c jobs.Config) (*jobs.Runner, error) {
				return jobs.NewPostgres(ctx, db.Pool(), c)
			},
			NewQueue: func() (*jobs.Queue, error) { return jobs.NewPostgresQueue(db.Pool()) },
		}, nil
	}
	scheme, _, _ := strings.Cut(cfg.DB, ":")
	return nil, fmt.Errorf("--db: unknown database kind %q: leave it empty for SQLite in the data directory, or give postgres://user@host/db", scheme)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cf := newConfigFlags(fs, "data", "db", "listen", "policy", "tls-cert", "tls-key", "insecure-http", "node",
		"log-level", "log-format", "self-check-interval", "heartbeat-interval", "node-timeout", "shutdown-timeout", "ingest-rate", "mqtt", "master-key", "keys-db",
		"smtp", "smtp-ca", "site-url", "lifecycle-interval", "backup-target", "backup-target-ca",
		"ingest-max-body", "ingest-max-decoded", "ingest-max-records", "ingest-in-flight", "ingest-min-rate", "ingest-rate-window",
		"body-timeout", "read-header-timeout", "idle-timeout", "mqtt-max-payload", "mqtt-share-group", "mqtt-drain-nodes", "min-free-space",
		"status-name-ja", "status-name-en", "status-logo", "status-color",
		"agent-manager-prefix")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: slokeeper serve [flags]\n\nRuns the server: HTTP API and pages, background jobs, on the configured store.\nSIGTERM or SIGINT stops it gracefully.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	m := NewMain(cfg, stderr)
	if err := m.Run(ctx); err != nil {
		return err
	}
	m.Logger.Info("slokeeper serving", "version", Version(), "url", m.HTTP.URL(), "engine", m.Store.Engine, "store", m.Store.Description)
	<-ctx.Done()
	m.Logger.Info("shutting down: finishing in-flight requests and jobs", "timeout", time.Duration(cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := m.Close(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

// startHeartbeat starts this node's own beat and self-check, until Close.
func (m *Main) startHeartbeat(ctx context.Context) {
	interval, bound := heartbeatBound(m.Config)
	m.Heartbeat = jobs.NewHeartbeat(jobs.HeartbeatConfig{
		Nodes: m.Store.Nodes, Evidence: m.Store.Evidence, Ready: m.Store.Ready, Clock: m.Clock,
		Node: m.node(), Version: Version(), Address: m.HTTP.URL(),
		Interval: interval, Bound: bound, SelfCheckInterval: time.Duration(m.Config.SelfCheckInterval),
		Want: m.Policy.Redundancy.Nodes, Logger: m.Logger,
	})
	m.Heartbeat.Start(ctx)
}

// logTarget logs at start what the backup target keeps of erased
// backups: a note for versioning or object lock, an error for a lock that
// outlasts a ceiling. The server runs on: erasure still destroys each
// backup's key, and refusing to back up would break the floors.
func (m *Main) logTarget(ctx context.Context, target slokeeper.BlobStore) {
	r, err := checkTarget(ctx, target, m.Policy, m.Clock.Now())
	if err != nil {
		m.Logger.Warn("backup target: cannot tell its versioning and object lock", "err", err)
		return
	}
	for _, n := range r.Notes {
		m.Logger.Info("backup target: " + n.EN)
	}
	for _, c := range r.Conflicts {
		m.Logger.Error("backup target: object lock outlasts an erase ceiling: "+c.Message(m.Policy.Location()).EN,
			"clause", c.Clause, "erase_by", c.EraseBy, "locked_until", c.LockedUntil)
	}
}
