package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/monitor"
	"slokeeper/maintenance"
)

// nodeTimeout is how long a node may go unseen and still serve.
func (s *Server) nodeTimeout() time.Duration {
	if s.NodeTimeout > 0 {
		return s.NodeTimeout
	}
	return 30 * time.Second
}

// nodeJSON is one node in GET /api/v1/nodes.
type nodeJSON struct {
	*slokeeper.Node
	Serving bool `json:"serving"`
}

// handleNodeIndex lists the cluster's nodes from their heartbeats, the
// cluster's alert and the failures confirmed by too few nodes: GET
// /api/v1/nodes, for staff.
func (s *Server) handleNodeIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	if s.Nodes == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This server keeps no nodes."))
		return
	}
	ctx, now := r.Context(), s.Clock.Now()
	ns, err := s.Nodes.FindNodes(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	out := make([]nodeJSON, len(ns))
	serving := 0
	for i, n := range ns {
		out[i] = nodeJSON{n, n.Serving(now, s.nodeTimeout())}
		if out[i].Serving {
			serving++
		}
	}
	alert := ""
	if s.NodeAlert != nil {
		if alert, err = s.NodeAlert(ctx); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
	}
	short := []monitor.Shortfall{}
	if s.Monitor != nil {
		short = s.Monitor.Shortfalls()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"nodes": out, "serving": serving, "wanted": s.Policy.Redundancy.Nodes, "alert": alert,
		"probe_confirmations": s.Policy.Redundancy.ProbeConfirmations, "confirmations_short": short,
	})
}

// clusterAlerts says, for the console's staff, what is wrong with the
// cluster: too few nodes serving, nodes stopped, failures confirmed by
// fewer nodes than the policy asks.
func (s *Server) clusterAlerts(ctx context.Context, l string) ([]string, error) {
	if s.Nodes == nil {
		return nil, nil
	}
	pg, now, loc := page{Lang: l}, s.Clock.Now(), s.Policy.Location()
	when := func(t time.Time) string { return maintenance.JST(t, loc, l) }
	ns, err := s.Nodes.FindNodes(ctx)
	if err != nil {
		return nil, err
	}
	var out, serving, stopped []string
	for _, n := range ns {
		switch {
		case n.Serving(now, s.nodeTimeout()):
			serving = append(serving, n.Name)
		case !n.StoppedAt.IsZero():
			stopped = append(stopped, n.Name+" ("+pg.T("最終確認 ", "last seen ")+when(n.StoppedAt)+")")
		}
	}
	if want := s.Policy.Redundancy.Nodes; len(serving) < want {
		out = append(out, pg.T(fmt.Sprintf("稼働中のノードは%d台です。ポリシーでは%d台での稼働が必要です(稼働中: %s)。", len(serving), want, strings.Join(serving, "、")),
			fmt.Sprintf("%d of %d nodes are serving; the policy asks for %d (serving: %s).", len(serving), want, want, strings.Join(serving, ", "))))
	}
	if len(stopped) > 0 {
		out = append(out, pg.T("停止したノード: "+strings.Join(stopped, "、"), "Stopped nodes: "+strings.Join(stopped, ", ")))
	}
	if s.Monitor != nil {
		for _, sf := range s.Monitor.Shortfalls() {
			held := pg.T("障害はまだ公開していません。状況を確認し、必要であれば手動で登録してください。", "It is not published yet: check it and open an incident by hand if needed.")
			if !sf.Held {
				held = pg.T("障害として公開しました。", "It was published as an incident.")
			}
			out = append(out, pg.T(fmt.Sprintf("%sの障害(%sから)は、必要な%d台のうち%d台のノードでしか確認できていません。%s", sf.Component, when(sf.Since), sf.Required, sf.Confirmed, held),
				fmt.Sprintf("The failure of %s (since %s) is confirmed by %d of %d required nodes. %s", sf.Component, when(sf.Since), sf.Confirmed, sf.Required, held)))
		}
	}
	return out, nil
}
