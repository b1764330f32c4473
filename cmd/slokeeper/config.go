package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"slokeeper/internal/httpserver"
	"slokeeper/internal/mqtt"
	"slokeeper/internal/netguard"
	"slokeeper/internal/strictyaml"
)

// Config is slokeeper's configuration. Each setting comes from, in rising
// precedence: its default, the YAML file given by --config (or
// SLOKEEPER_CONFIG), the environment variable SLOKEEPER_<NAME> (e.g.
// SLOKEEPER_TLS_CERT), and the command-line flag --<name>.
type Config struct {
	Data                 string   `yaml:"data,omitempty"`                   // data directory; default ./slokeeper-data
	DB                   string   `yaml:"db,omitempty"`                     // "" for SQLite in the data directory, or postgres://...
	Listen               string   `yaml:"listen,omitempty"`                 // default 127.0.0.1:8080
	Policy               string   `yaml:"policy,omitempty"`                 // SLO policy file; "" for the embedded default
	TLSCert              string   `yaml:"tls_cert,omitempty"`               // PEM certificate; with tls_key, serve HTTPS
	TLSKey               string   `yaml:"tls_key,omitempty"`                // PEM private key
	InsecureHTTP         bool     `yaml:"insecure_http,omitempty"`          // allow plain HTTP off loopback; default false
	Node                 string   `yaml:"node,omitempty"`                   // this node's name in evidence; default the host name
	LogLevel             string   `yaml:"log_level,omitempty"`              // debug, info, warn or error; default info
	LogFormat            string   `yaml:"log_format,omitempty"`             // text or json; default text
	SelfCheckInterval    duration `yaml:"self_check_interval,omitempty"`    // default 5m
	HeartbeatInterval    duration `yaml:"heartbeat_interval,omitempty"`     // how often this node beats in the nodes table; default 5s
	NodeTimeout          duration `yaml:"node_timeout,omitempty"`           // a node unseen this long counts as stopped; default 6 heartbeat intervals
	LifecycleInterval    duration `yaml:"lifecycle_interval,omitempty"`     // default 5m
	ShutdownTimeout      duration `yaml:"shutdown_timeout,omitempty"`       // default 30s
	IngestRate           float64  `yaml:"ingest_rate,omitempty"`            // log lines a second per source; default 50000, -1 for no limit
	MQTT                 string   `yaml:"mqtt,omitempty"`                   // broker to take logs from: mqtt://host:1883 or tls://…; empty for none
	MasterKey            string   `yaml:"master_key,omitempty"`             // master keyset file; default <data>/master.key, created on first start
	BackupTarget         string   `yaml:"backup_target,omitempty"`          // a directory (default <data>/backups) or s3://host/bucket/prefix
	KeysDB               string   `yaml:"keys_db,omitempty"`                // key store: "" for <data>/keys.db, or a postgres:// DSN of its own database (several nodes)
	SMTP                 string   `yaml:"smtp,omitempty"`                   // mail server for notices: smtp://user@host:587?from=status@example.jp; empty: no e-mail
	SMTPCA               string   `yaml:"smtp_ca,omitempty"`                // CA certificates (PEM) the mail server's certificate is checked against; default the system's
	BackupTargetCA       string   `yaml:"backup_target_ca,omitempty"`       // CA certificates (PEM) an S3 target's certificate is checked against; default the system's
	SiteURL              string   `yaml:"site_url,omitempty"`               // the status page's public URL, for links in notices; default http(s)://LISTEN/
	TrustedProxies       string   `yaml:"trusted_proxies,omitempty"`        // proxies whose X-Forwarded-For is believed: CIDR prefixes, comma-separated; default none
	LoginHashConcurrency int      `yaml:"login_hash_concurrency,omitempty"` // password hashes computed at once; default 2 per CPU
	// Outbound targets (README "Outbound targets"): what webhooks and
	// probes may connect to besides the public internet, as CIDR
	// prefixes or loopback, private, link-local, unspecified; default none.
	WebhookAllowTargets string `yaml:"webhook_allow_targets,omitempty"`
	ProbeAllowTargets   string `yaml:"probe_allow_targets,omitempty"`
	// Request limits (README "Request limits"); zero: the default.
	IngestMaxBody     size     `yaml:"ingest_max_body,omitempty"`     // one ingest body on the wire; default 8MiB
	IngestMaxDecoded  size     `yaml:"ingest_max_decoded,omitempty"`  // what one ingest body decompresses to; default 8MiB
	IngestMaxRecords  int      `yaml:"ingest_max_records,omitempty"`  // records per ingest request; default 100000
	IngestInFlight    int      `yaml:"ingest_in_flight,omitempty"`    // ingest requests under way at once; default 16
	IngestMinRate     size     `yaml:"ingest_min_rate,omitempty"`     // bytes a second an ingest body must bring; default 1KiB
	IngestRateWindow  duration `yaml:"ingest_rate_window,omitempty"`  // the window that rate is counted over; default 10s
	BodyTimeout       duration `yaml:"body_timeout,omitempty"`        // how long a form or API body may take; default 10s
	ReadHeaderTimeout duration `yaml:"read_header_timeout,omitempty"` // how long request headers may take; default 10s
	IdleTimeout       duration `yaml:"idle_timeout,omitempty"`        // how long an idle keep-alive connection stays open; default 2m
	MQTTMaxPayload    size     `yaml:"mqtt_max_payload,omitempty"`    // one MQTT message's payload; default 1MiB
	// MQTTShareGroup is the MQTT 5 shared subscription group every node of
	// the cluster joins, so each message goes to one node; default slokeeper.
	MQTTShareGroup string `yaml:"mqtt_share_group,omitempty"`
	// MQTTDrainNodes names retired nodes, comma-separated, whose MQTT
	// sessions this node empties into the store and ends at start; default none.
	MQTTDrainNodes string `yaml:"mqtt_drain_nodes,omitempty"`
	MinFreeSpace   size   `yaml:"min_free_space,omitempty"` // free space the data directory needs for /readyz; default 256MiB
	// AgentManagerPrefix is the path of the agentManagerBaseUrl enebular
	// agents are registered with; default "" (record-logs at the root).
	AgentManagerPrefix string `yaml:"agent_manager_prefix,omitempty"`
	// LifecycleActionTimeout bounds each lifecycle action and each listing
	// of the backup target, plus a second per MiB the action moves; default 5m.
	LifecycleActionTimeout duration `yaml:"lifecycle_action_timeout,omitempty"`
	// The status page as the operator's own (README "Status page"):
	// its name in place of the policy's service name, a logo (an https://
	// URL or an image file slokeeper serves) and an accent colour (CSS hex).
	StatusNameJA string `yaml:"status_name_ja,omitempty"`
	StatusNameEN string `yaml:"status_name_en,omitempty"`
	StatusLogo   string `yaml:"status_logo,omitempty"`
	StatusColor  string `yaml:"status_color,omitempty"`
	// SMTPPassword comes from SLOKEEPER_SMTP_PASSWORD only: never from a
	// file or a flag, which end up on disk or in a process list.
	SMTPPassword string `yaml:"-"`
}

// DefaultConfig returns the defaults design.md fixes.
func DefaultConfig() Config {
	return Config{
		Data:              "slokeeper-data",
		Listen:            "127.0.0.1:8080",
		LogLevel:          "info",
		LogFormat:         "text",
		SelfCheckInterval: duration(5 * time.Minute),
		LifecycleInterval: duration(5 * time.Minute),
		ShutdownTimeout:   duration(30 * time.Second),
	}
}

// duration is a time.Duration read as "30s" or "5m" from YAML, the
// environment and flags.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a positive duration like 30s or 5m", b)
	}
	*d = duration(v)
	return nil
}

func (d *duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }
func (d *duration) String() string     { return time.Duration(*d).String() }

// size is a number of bytes read as "1048576", "64KiB", "8MiB" or "1GiB".
type size int64

func (z *size) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<50)/mult {
		return fmt.Errorf("%q is not a size like 1048576, 64KiB, 8MiB or 1GiB", b)
	}
	*z = size(v * mult)
	return nil
}

func (z *size) Set(s string) error { return z.UnmarshalText([]byte(s)) }
func (z *size) String() string {
	switch v := int64(*z); {
	case v != 0 && v%(1<<20) == 0:
		return strconv.FormatInt(v>>20, 10) + "MiB"
	case v != 0 && v%(1<<10) == 0:
		return strconv.FormatInt(v>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(v, 10)
	}
}

type setting struct {
	name  string // flag name; the YAML key and environment variable derive from it
	usage string
	ptr   any // *string, *bool, *float64, *int, *size or *duration
	path  bool
}

func (c *Config) settings() []setting {
	return []setting{
		{"data", "data directory", &c.Data, true},
		{"db", "database: empty for SQLite in the data directory, or postgres://user@host/db", &c.DB, false},
		{"listen", "address to listen on", &c.Listen, false},
		{"policy", "SLO policy file (default: the embedded reference policy)", &c.Policy, true},
		{"tls-cert", "TLS certificate (PEM); with --tls-key, serve HTTPS only", &c.TLSCert, true},
		{"tls-key", "TLS private key (PEM)", &c.TLSKey, true},
		{"insecure-http", "allow plain HTTP on an address other machines can reach", &c.InsecureHTTP, false},
		{"node", "this node's name in evidence (default: the host name)", &c.Node, false},
		{"log-level", "log level: debug, info, warn or error", &c.LogLevel, false},
		{"log-format", "log format: text or json", &c.LogFormat, false},
		{"self-check-interval", "how often each node checks itself", &c.SelfCheckInterval, false},
		{"heartbeat-interval", "how often this node records its heartbeat in the nodes table (default 5s)", &c.HeartbeatInterval, false},
		{"node-timeout", "how long a node may go unseen before it counts as stopped (default 6 heartbeat intervals)", &c.NodeTimeout, false},
		{"lifecycle-interval", "how often the lifecycle pass (backups, verification, erasure) runs; 0: only when \"slokeeper lifecycle run\" (from cron) asks", &c.LifecycleInterval, false},
		{"lifecycle-action-timeout", "how long each lifecycle action may take before it fails and the pass goes on, plus a second per MiB it moves (default 5m)", &c.LifecycleActionTimeout, false},
		{"shutdown-timeout", "how long to wait for requests and jobs on shutdown", &c.ShutdownTimeout, false},
		{"ingest-rate", "log lines a second each source may send (-1: no limit)", &c.IngestRate, false},
		{"mqtt", "MQTT broker to take logs from (subscribes to slokeeper/+/logs), e.g. mqtt://127.0.0.1:1883", &c.MQTT, false},
		{"mqtt-drain-nodes", "retired nodes, comma-separated, whose MQTT sessions this node empties (storing what the broker queued for them) and ends at start (default: none)", &c.MQTTDrainNodes, false},
		{"mqtt-share-group", "MQTT 5 shared subscription group of the cluster's nodes, $share/GROUP/slokeeper/+/logs: each message goes to one node of the group (default: slokeeper)", &c.MQTTShareGroup, false},
		{"master-key", "master keyset file (default: DATA/master.key, created on first start, mode 0600)", &c.MasterKey, true},
		{"backup-target", "backup target: a directory (default DATA/backups) or s3://host/bucket/prefix?tls=false", &c.BackupTarget, false},
		{"backup-target-ca", "CA certificates (PEM) to check an S3 backup target's certificate against (default: the system's)", &c.BackupTargetCA, true},
		{"keys-db", "key store: a postgres:// DSN of a database of its own, which backups never copy (default: DATA/keys.db)", &c.KeysDB, false},
		{"smtp", "mail server for notices: smtp://user@host:587?from=status@example.jp (STARTTLS), smtps://… (TLS) or smtp+plain://127.0.0.1:25 (a local relay); the password comes from SLOKEEPER_SMTP_PASSWORD", &c.SMTP, false},
		{"smtp-ca", "CA certificates (PEM) to check the mail server's certificate against (default: the system's)", &c.SMTPCA, true},
		{"site-url", "the status page's public URL, for the links in notices (default: http(s)://LISTEN/)", &c.SiteURL, false},
		{"trusted-proxies", "proxies whose X-Forwarded-For gives the client's address, as CIDR prefixes: 10.0.0.0/8,192.0.2.1 (default: none)", &c.TrustedProxies, false},
		{"login-hash-concurrency", "password hashes (sign-ins, password changes) computed at once, 19 MiB each; more wait briefly, then get 503 (default: 2 per CPU)", &c.LoginHashConcurrency, false},
		{"ingest-max-body", "largest ingest request body on the wire, e.g. 8MiB (0: 8MiB)", &c.IngestMaxBody, false},
		{"ingest-max-decoded", "largest size an ingest body may decompress to, e.g. 8MiB (0: 8MiB)", &c.IngestMaxDecoded, false},
		{"ingest-max-records", "most log records in one ingest request (0: 100000)", &c.IngestMaxRecords, false},
		{"ingest-in-flight", "most ingest requests under way at once; more get 503 (0: 16)", &c.IngestInFlight, false},
		{"ingest-min-rate", "bytes a second an ingest body must bring, e.g. 1KiB (0: 1KiB)", &c.IngestMinRate, false},
		{"ingest-rate-window", "the window the ingest body's minimum rate is counted over (0: 10s)", &c.IngestRateWindow, false},
		{"body-timeout", "how long a form or API request body may take to arrive (0: 10s)", &c.BodyTimeout, false},
		{"read-header-timeout", "how long request headers may take to arrive (0: 10s)", &c.ReadHeaderTimeout, false},
		{"idle-timeout", "how long an idle keep-alive connection stays open (0: 2m)", &c.IdleTimeout, false},
		{"mqtt-max-payload", "largest MQTT message payload, announced to the broker (0: 1MiB)", &c.MQTTMaxPayload, false},
		{"min-free-space", "free space the data directory needs for /readyz to say ready, e.g. 256MiB (0: 256MiB)", &c.MinFreeSpace, false},
		{"webhook-allow-targets", "addresses webhooks may be posted to besides the public internet: CIDR prefixes or loopback, private, link-local, e.g. 10.1.0.0/16 (default: none)", &c.WebhookAllowTargets, false},
		{"probe-allow-targets", "addresses probes may connect to besides the public internet: CIDR prefixes or loopback, private, link-local, e.g. private or 10.0.0.0/8,fd00::/8 (default: none)", &c.ProbeAllowTargets, false},
		{"status-name-ja", "the status page's name in Japanese (default: the policy's service name)", &c.StatusNameJA, false},
		{"status-name-en", "the status page's name in English (default: the policy's service name)", &c.StatusNameEN, false},
		{"status-logo", "the status page's logo: an https:// URL, or a .png, .jpg, .svg or .webp file (at most 512 KiB) served at /logo", &c.StatusLogo, true},
		{"status-color", "the status page's accent colour, a CSS hex colour such as #0b57d0", &c.StatusColor, false},
		{"agent-manager-prefix", "the path enebular-agents reach slokeeper's agent-manager calls under, as in their agentManagerBaseUrl, e.g. /agent-manager (default: the root, /record-logs)", &c.AgentManagerPrefix, false},
	}
}

func envName(flagName string) string {
	return "SLOKEEPER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// configFlags registers --config and the named settings' flags on fs. After
// fs.Parse, its load method builds the effective Config.
type configFlags struct {
	fs      *flag.FlagSet
	path    string
	flagged Config // the values flags were parsed into
}

func newConfigFlags(fs *flag.FlagSet, names ...string) *configFlags {
	cf := &configFlags{fs: fs, flagged: DefaultConfig()}
	fs.StringVar(&cf.path, "config", "", "configuration file (YAML); env SLOKEEPER_CONFIG")
	for _, s := range cf.flagged.settings() {
		if !slices.Contains(names, s.name) {
			continue
		}
		usage := s.usage + "; env " + envName(s.name)
		switch p := s.ptr.(type) {
		case *string:
			fs.StringVar(p, s.name, *p, usage)
		case *bool:
			fs.BoolVar(p, s.name, *p, usage)
		case *duration:
			fs.Var(p, s.name, usage)
		case *size:
			fs.Var(p, s.name, usage)
		case *float64:
			fs.Float64Var(p, s.name, *p, usage)
		case *int:
			fs.IntVar(p, s.name, *p, usage)
		}
	}
	return cf
}

// load returns defaults overlaid with the config file, the environment and
// the flags that were given.
func (cf *configFlags) load(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	path := cf.path
	if path == "" {
		path = getenv("SLOKEEPER_CONFIG")
	}
	if path != "" {
		if err := cfg.loadFile(path); err != nil {
			return cfg, err
		}
	}
	settings := cfg.settings()
	for _, s := range settings {
		v := getenv(envName(s.name))
		if v == "" {
			continue
		}
		var err error
		switch p := s.ptr.(type) {
		case *string:
			*p = v
		case *bool:
			*p, err = strconv.ParseBool(v)
		case *duration:
			err = p.Set(v)
		case *size:
			err = p.Set(v)
		case *float64:
			*p, err = strconv.ParseFloat(v, 64)
		case *int:
			*p, err = strconv.Atoi(v)
		}
		if err != nil {
			return cfg, fmt.Errorf("%s=%q: %v", envName(s.name), v, err)
		}
	}
	cfg.SMTPPassword = getenv("SLOKEEPER_SMTP_PASSWORD")
	flagged := cf.flagged.settings()
	cf.fs.Visit(func(f *flag.Flag) {
		for i, s := range settings {
			if s.name == f.Name {
				reflect.ValueOf(s.ptr).Elem().Set(reflect.ValueOf(flagged[i].ptr).Elem())
			}
		}
	})
	return cfg, cfg.validate()
}

// loadFile overlays the YAML file at path. Relative paths in it are
// relative to the file's directory, so a config works from any directory.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var file Config
	_, problems := strictyaml.Decode(data, &file)
	if len(problems) == 1 && problems[0].Message == strictyaml.MsgEmpty {
		return nil // an empty file: all defaults
	}
	if len(problems) > 0 {
		var lines []string
		for _, p := range problems {
			lines = append(lines, fmt.Sprintf("%s:%d:%d: %s", path, p.Pos.Line, p.Pos.Col, p.Message))
		}
		return fmt.Errorf("%s", strings.Join(lines, "\n"))
	}
	// Overlay what the file set, field by field.
	fileSettings := file.settings()
	for i, s := range c.settings() {
		v := reflect.ValueOf(fileSettings[i].ptr).Elem()
		if v.IsZero() {
			continue
		}
		if s.path && !filepath.IsAbs(v.String()) && !strings.Contains(v.String(), "://") {
			v.SetString(filepath.Join(filepath.Dir(path), v.String()))
		}
		reflect.ValueOf(s.ptr).Elem().Set(v)
	}
	return nil
}

// agentPrefix is what an agent-manager prefix may be: a path the mux
// takes literally.
var agentPrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

func (c *Config) validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log format %q is not text or json", c.LogFormat)
	}
	if c.Data == "" {
		return fmt.Errorf("the data directory must not be empty")
	}
	if err := c.brand().Validate(); err != nil {
		return err
	}
	if _, err := httpserver.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return err
	}
	if _, _, err := c.targetPolicies(); err != nil {
		return err
	}
	if c.LoginHashConcurrency < 0 {
		return fmt.Errorf("login_hash_concurrency must not be negative")
	}
	if c.IngestMaxRecords < 0 || c.IngestInFlight < 0 {
		return fmt.Errorf("ingest_max_records and ingest_in_flight must not be negative")
	}
	if p := c.AgentManagerPrefix; p != "" && (!agentPrefix.MatchString(p) || path.Clean(p) != p) {
		return fmt.Errorf("agent_manager_prefix %q is not a path such as /agent-manager (letters, digits, - _ . and /, no trailing /)", p)
	}
	if c.MQTTShareGroup != "" {
		if err := mqtt.CheckShareGroup(c.MQTTShareGroup); err != nil {
			return fmt.Errorf("mqtt_share_group: %w", err)
		}
	}
	for _, n := range c.drainNodes() {
		if n == c.Node {
			return fmt.Errorf("mqtt_drain_nodes names this node (%s): list only nodes that have left the cluster", n)
		}
	}
	if c.ShutdownTimeout <= 0 || c.SelfCheckInterval <= 0 {
		return fmt.Errorf("shutdown_timeout and self_check_interval must be longer than 0")
	}
	return nil
}

// drainNodes returns the node names in mqtt_drain_nodes.
func (c *Config) drainNodes() []string {
	var names []string
	for n := range strings.SplitSeq(c.MQTTDrainNodes, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// targetPolicies returns what webhooks and probes may connect to, each
// policy naming its setting in its refusals.
func (c *Config) targetPolicies() (webhooks, probes *netguard.Policy, err error) {
	named := func(flagName string) string {
		return fmt.Sprintf("%s (--%s, %s)", strings.ReplaceAll(flagName, "-", "_"), flagName, envName(flagName))
	}
	if webhooks, err = netguard.Parse(c.WebhookAllowTargets, named("webhook-allow-targets")); err != nil {
		return nil, nil, err
	}
	if probes, err = netguard.Parse(c.ProbeAllowTargets, named("probe-allow-targets")); err != nil {
		return nil, nil, err
	}
	return webhooks, probes, nil
}

// brand is the status page's look from the status_* settings.
func (c *Config) brand() httpserver.Brand {
	return httpserver.Brand{NameJA: c.StatusNameJA, NameEN: c.StatusNameEN, Logo: c.StatusLogo, Color: c.StatusColor}
}
