package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"slokeeper"
	"slokeeper/internal/jobs"
)

// heartbeatBound is how long a node may go unseen before it counts as
// stopped: node_timeout, or six heartbeat intervals.
func heartbeatBound(cfg Config) (interval, bound time.Duration) {
	interval, bound = time.Duration(cfg.HeartbeatInterval), time.Duration(cfg.NodeTimeout)
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if bound <= 0 {
		bound = 6 * interval
	}
	return interval, bound
}

func nodeTimeout(cfg Config) time.Duration { _, bound := heartbeatBound(cfg); return bound }

const nodesUsage = `Usage: slokeeper nodes [--format text|json]

Lists the cluster's nodes from their heartbeats: each node records its own
every heartbeat_interval (default 5s); one unseen for node_timeout (default
six intervals) counts as stopped, and whichever node notices first records
it as evidence (clause redundancy), as it does the node's return. When
fewer nodes serve than the policy's redundancy.nodes, the cluster's alert
is raised: shown here, on the console and as evidence.
`

// nodeRow is one line of "slokeeper nodes" and of GET /api/v1/nodes.
type nodeRow struct {
	*slokeeper.Node
	Serving bool `json:"serving"`
}

func runNodes(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, nodesUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "heartbeat-interval", "node-timeout")
	var format string
	fs.StringVar(&format, "format", "text", "text or json")
	cfg, store, err := openForCommand(ctx, fs, cf, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if format != "text" && format != "json" {
		fmt.Fprintf(stderr, "nodes: --format %q is not text or json\n", format)
		return errUsage
	}
	nodes, err := store.Nodes.FindNodes(ctx)
	if err != nil {
		return err
	}
	alert, err := jobs.Alert(ctx, store.Nodes)
	if err != nil {
		return err
	}
	_, bound := heartbeatBound(cfg)
	now := time.Now()
	rows := make([]nodeRow, len(nodes))
	for i, n := range nodes {
		rows[i] = nodeRow{n, n.Serving(now, bound)}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"nodes": rows, "alert": alert})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSTARTED\tLAST SEEN\tVERSION\tADDRESS")
	for _, r := range rows {
		state := "serving"
		switch {
		case !r.StoppedAt.IsZero():
			state = "stopped"
		case !r.Serving:
			state = "silent"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(r.Name), state, r.StartedAt.Format(time.RFC3339), r.LastSeen.Format(time.RFC3339), termSafe(r.Version), termSafe(r.Address))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if alert != "" {
		fmt.Fprintf(stdout, "\nALERT since %s\n", termSafe(alert))
	}
	return nil
}
