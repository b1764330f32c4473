package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/probe"
	"slokeeper/internal/strictyaml"
	"slokeeper/policy"
)

const componentUsage = `Usage:
  slokeeper component apply FILE [--prune]   create or replace the components FILE describes (--prune: remove the others)
  slokeeper component list                   the components and their probes
  slokeeper component remove ID              remove a component and its check results

A component is a part of the service the status page shows, checked from
the outside by its probe. FILE is YAML:

  components:
    - id: api
      group: cloud                 # optional: components of a group show together
      group_ja: クラウド           # optional: the group's heading on the status page
      group_en: Cloud
      name_ja: クラウド実行環境
      name_en: Cloud runtime
      target: 99.95%               # optional: the uptime target; default the policy's availability.target
      interval: 30s                # optional: between checks (default 60s, at least 5s)
      failures: 3                  # optional: failed checks in a row before it counts as down
      probe:
        kind: http                 # http, tcp or dns
        target: https://api.example.jp/healthz
        status: [200]              # optional: accepted codes (default 200-399)
        body: '"status":\s*"ok"'   # optional: a regular expression the body must match
        max_latency: 2s            # optional
        cert_expiry: 336h          # optional: fail when the certificate expires within this

Probes reach the public internet only: a target (or DNS server) on a
loopback, link-local or private address is refused here and at every
check unless probe_allow_targets (--probe-allow-targets,
SLOKEEPER_PROBE_ALLOW_TARGETS) allows it, e.g. "private" or
"10.0.0.0/8,fd00::/8". The server reads the same setting.

After slokeeper login (or with SLOKEEPER_SERVER), apply, remove and list go
through the server's API as you (admin or operator): the server checks
each component and its probe's target by its own rules, and the ledger
records you; list shows each component's state as the server sees it.
Without a sign-in they work on the store (list only reads it, so it also
works on a stopped server's data directory):
` + directStoreHelp

// componentsFile is a components file as written.
type componentsFile struct {
	Components []componentYAML `yaml:"components"`
}

type componentYAML struct {
	ID       string          `yaml:"id"`
	Group    string          `yaml:"group,omitempty"`
	GroupJA  string          `yaml:"group_ja,omitempty"`
	GroupEN  string          `yaml:"group_en,omitempty"`
	NameJA   string          `yaml:"name_ja"`
	NameEN   string          `yaml:"name_en"`
	Order    int             `yaml:"order,omitempty"`
	Hidden   bool            `yaml:"hidden,omitempty"`
	Target   *policy.Percent `yaml:"target,omitempty"`
	Interval duration        `yaml:"interval,omitempty"`
	Failures int             `yaml:"failures,omitempty"`
	Probe    probeYAML       `yaml:"probe"`
}

type probeYAML struct {
	Kind       string   `yaml:"kind"`
	Target     string   `yaml:"target"`
	Timeout    duration `yaml:"timeout,omitempty"`
	Status     []int    `yaml:"status,omitempty"`
	Body       string   `yaml:"body,omitempty"`
	MaxLatency duration `yaml:"max_latency,omitempty"`
	CertExpiry duration `yaml:"cert_expiry,omitempty"`
	Server     string   `yaml:"server,omitempty"`
	Expect     string   `yaml:"expect,omitempty"`
}

// loadComponents reads and checks a components file: every problem at
// once, each as FILE:LINE:COL or FILE: component ID. A probe whose
// target prober may not reach is one (probe_allow_targets).
func loadComponents(path string, now time.Time, prober *probe.Prober) ([]*slokeeper.Component, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f componentsFile
	pos, problems := strictyaml.Decode(data, &f)
	var msgs []string
	for _, p := range problems {
		if p.Message == strictyaml.MsgEmpty {
			return nil, slokeeper.Errorf(slokeeper.EINVALID, "%s: the file is empty: it lists no components.", path)
		}
		msgs = append(msgs, fmt.Sprintf("%s:%d:%d: %s", path, p.Pos.Line, p.Pos.Col, p.Message))
	}
	if len(msgs) > 0 {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "%s", strings.Join(msgs, "\n"))
	}
	var out []*slokeeper.Component
	seen := map[string]bool{}
	for i, y := range f.Components {
		c := &slokeeper.Component{ID: y.ID, Group: y.Group, GroupJA: y.GroupJA, GroupEN: y.GroupEN, NameJA: y.NameJA, NameEN: y.NameEN, Order: y.Order, Hidden: y.Hidden,
			Interval: slokeeper.Duration(y.Interval), Failures: y.Failures, UpdatedAt: now,
			Probe: slokeeper.Probe{Kind: y.Probe.Kind, Target: y.Probe.Target, Timeout: slokeeper.Duration(y.Probe.Timeout), Status: y.Probe.Status,
				Body: y.Probe.Body, MaxLatency: slokeeper.Duration(y.Probe.MaxLatency), CertExpiry: slokeeper.Duration(y.Probe.CertExpiry),
				Server: y.Probe.Server, Expect: y.Probe.Expect}}
		if y.Target != nil {
			c.Target = y.Target.Fraction()
		}
		c.Defaults()
		at := pos.Of(fmt.Sprintf("components[%d]", i))
		where := fmt.Sprintf("%s:%d:%d", path, at.Line, at.Col)
		if err := c.Validate(); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: %s", where, slokeeper.ErrorMessage(err)))
		} else if err := prober.CheckTarget(c.Probe); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: %s", where, slokeeper.ErrorMessage(err)))
		}
		if seen[c.ID] {
			msgs = append(msgs, fmt.Sprintf("%s: component %s is described twice", where, c.ID))
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	if len(msgs) > 0 {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "%s", strings.Join(msgs, "\n"))
	}
	return out, nil
}

func runComponent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "component", componentUsage, map[string]subcommand{
		"apply":  runComponentApply,
		"list":   runComponentList,
		"remove": runComponentRemove,
	}, args, getenv, stdout, stderr)
}

func componentFlags(sub string, stderr io.Writer) (*flag.FlagSet, *configFlags) {
	fs := flag.NewFlagSet("component "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, componentUsage, "\nFlags:\n"); fs.PrintDefaults() }
	return fs, newConfigFlags(fs, "data", "db", "probe-allow-targets")
}

// openComponentStore opens the store and a recorder of local
// administration in its ledger, for a direct-store component command.
// The caller closes the store.
func openComponentStore(ctx context.Context, cfg Config) (*Store, func(action, target, detail string) error, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	l, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, func(action, target, detail string) error {
		_, err := l.Record(ctx, cliActor(), action, target, localDetail(detail))
		return err
	}, nil
}

func runComponentApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := componentFlags("apply", stderr)
	file, args, ok := positionalArg(args)
	if !ok {
		fmt.Fprint(stderr, "component apply: name the file first\n")
		return errUsage
	}
	prune := fs.Bool("prune", false, "remove the components the file does not describe")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	_, targets, err := cfg.targetPolicies()
	if err != nil {
		return err
	}
	cs, err := loadComponents(file, time.Now(), probe.New(nil, nil, targets))
	if err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	var removed int
	if c != nil {
		removed, err = componentApplyAPI(ctx, c, cs, *prune)
	} else {
		removed, err = componentApplyStore(ctx, cfg, file, cs, *prune)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d components applied, %d removed\n", len(cs), removed)
	return nil
}

// componentApplyAPI puts each component through the server's API as the
// signed-in operator; the server validates each component and its
// probe's target as it would a file, and records the operator.
func componentApplyAPI(ctx context.Context, c *apiClient, cs []*slokeeper.Component, prune bool) (int, error) {
	for _, comp := range cs {
		if err := c.do(ctx, http.MethodPut, "/api/v1/components/"+url.PathEscape(comp.ID), comp, nil); err != nil {
			return 0, fmt.Errorf("component %s: %w", comp.ID, err)
		}
	}
	removed := 0
	if prune {
		var have struct {
			Components []*slokeeper.Component `json:"components"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/components", nil, &have); err != nil {
			return 0, err
		}
		for _, h := range have.Components {
			if slices.ContainsFunc(cs, func(x *slokeeper.Component) bool { return x.ID == h.ID }) {
				continue
			}
			if err := c.do(ctx, http.MethodDelete, "/api/v1/components/"+url.PathEscape(h.ID), nil, nil); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}

// componentApplyStore puts each component in the store, as local
// administration.
func componentApplyStore(ctx context.Context, cfg Config, file string, cs []*slokeeper.Component, prune bool) (int, error) {
	store, record, err := openComponentStore(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	for _, c := range cs {
		if err := record("component.put", "component:"+c.ID, c.Probe.Kind+" "+c.Probe.Target); err != nil {
			return 0, err
		}
		if err := store.Components.PutComponent(ctx, c); err != nil {
			return 0, err
		}
	}
	removed := 0
	if prune {
		have, err := store.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
		if err != nil {
			return 0, err
		}
		for _, c := range have {
			if slices.ContainsFunc(cs, func(x *slokeeper.Component) bool { return x.ID == c.ID }) {
				continue
			}
			if err := record("component.remove", "component:"+c.ID, "not in "+file); err != nil {
				return removed, err
			}
			if err := store.Components.DeleteComponent(ctx, c.ID); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}

func runComponentRemove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := componentFlags("remove", stderr)
	id, args, ok := positionalArg(args)
	if !ok {
		fmt.Fprint(stderr, "component remove: name the component first\n")
		return errUsage
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		if err := c.do(ctx, http.MethodDelete, "/api/v1/components/"+url.PathEscape(id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", termSafe(id))
		return nil
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	store, record, err := openComponentStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := record("component.remove", "component:"+id, ""); err != nil {
		return err
	}
	return store.Components.DeleteComponent(ctx, id)
}

func runComponentList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := componentFlags("list", stderr)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := signedIn(getenv)
	if err != nil {
		return err
	}
	if c != nil {
		return componentListAPI(ctx, c, stdout)
	}
	cfg, err := cf.load(getenv)
	if err != nil {
		return err
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	cs, err := store.Components.FindComponents(ctx, slokeeper.ComponentFilter{})
	if err != nil {
		return err
	}
	now := time.Now()
	last := make([]string, len(cs))
	for i, c := range cs {
		if last[i], err = lastCheck(ctx, store.Components, c, now); err != nil {
			return err
		}
	}
	return writeComponents(stdout, cs, last)
}

// writeComponents lists components, their probes and how each last
// check went (last[i] for cs[i]).
func writeComponents(w io.Writer, cs []*slokeeper.Component, last []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tGROUP\tNAME\tPROBE\tEVERY\tFAILURES\tTARGET\tLAST CHECK")
	for i, c := range cs {
		target := "policy"
		if c.Target > 0 {
			target = fmt.Sprintf("%g%%", c.Target*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%s %s\t%s\t%d\t%s\t%s\n", c.ID, termSafe(cmp.Or(c.Group, "-")), termSafe(c.NameJA), termSafe(c.NameEN), c.Probe.Kind, termSafe(c.Probe.Target), time.Duration(c.Interval), c.Failures, target, termSafe(last[i]))
	}
	return tw.Flush()
}

// componentListAPI lists the components through the server's API, with
// each one's state as the server's monitor sees it and why its latest
// check failed.
func componentListAPI(ctx context.Context, c *apiClient, stdout io.Writer) error {
	var out struct {
		Components []struct {
			slokeeper.Component
			State *struct {
				Status string `json:"status"`
				Reason string `json:"reason"`
			} `json:"state"`
		} `json:"components"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/components", nil, &out); err != nil {
		return err
	}
	cs, last := make([]*slokeeper.Component, len(out.Components)), make([]string, len(out.Components))
	for i := range out.Components {
		cs[i], last[i] = &out.Components[i].Component, "-"
		if st := out.Components[i].State; st != nil {
			last[i] = st.Status
			if st.Reason != "" {
				last[i] += ": " + st.Reason
			}
		}
	}
	return writeComponents(stdout, cs, last)
}

// lastCheck says how c's latest check (within its last ten intervals)
// went, and why it failed ("failed: status 503"): for staff, the public
// page never says why.
func lastCheck(ctx context.Context, cs slokeeper.ComponentService, c *slokeeper.Component, now time.Time) (string, error) {
	rs, err := cs.FindCheckResults(ctx, c.ID, now.Add(-10*time.Duration(c.Interval)), now.Add(time.Millisecond))
	if err != nil || len(rs) == 0 {
		return "-", err
	}
	r := rs[len(rs)-1]
	if r.OK {
		return "ok", nil
	}
	return "failed: " + cmp.Or(r.Detail, "no detail"), nil
}
