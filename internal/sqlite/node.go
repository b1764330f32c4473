package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"slokeeper"
)

// NodeService keeps the cluster's nodes and cluster values in SQLite.
type NodeService struct {
	db *DB
}

var _ slokeeper.NodeService = (*NodeService)(nil)

// NewNodeService returns a NodeService on db.
func NewNodeService(db *DB) *NodeService { return &NodeService{db: db} }

// BeatNode records n's heartbeat. The immediate transaction holds the
// write lock from reading the stopped mark to clearing it, so exactly one
// beat reports the node back.
func (s *NodeService) BeatNode(ctx context.Context, n *slokeeper.Node, back func(time.Time) *slokeeper.Evidence) (time.Time, error) {
	if err := n.Validate(); err != nil {
		return time.Time{}, err
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("node heartbeat: %w", err)
	}
	defer tx.Rollback()
	var stopped sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT stopped_at FROM nodes WHERE name = ?`, n.Name).Scan(&stopped)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("node heartbeat: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO nodes (name, started_at, last_seen, version, address) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, last_seen = excluded.last_seen,
			version = excluded.version, address = excluded.address, stopped_at = NULL`,
		n.Name, formatTime(n.StartedAt), formatTime(n.LastSeen), n.Version, n.Address); err != nil {
		return time.Time{}, fmt.Errorf("node heartbeat: %w", interpretError(err))
	}
	var was time.Time
	if stopped.Valid {
		if was, err = parseTime(stopped.String); err != nil {
			return time.Time{}, err
		}
		if err := recordIn(ctx, tx, backEvidence(back, was)); err != nil {
			return time.Time{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, fmt.Errorf("node heartbeat: %w", err)
	}
	n.StoppedAt = time.Time{}
	return was, nil
}

func backEvidence(back func(time.Time) *slokeeper.Evidence, at time.Time) *slokeeper.Evidence {
	if back == nil {
		return nil
	}
	return back(at)
}

// recordIn validates and stores e (nil: nothing) in tx.
func recordIn(ctx context.Context, tx *sql.Tx, e *slokeeper.Evidence) error {
	if e == nil {
		return nil
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return insertEvidence(ctx, tx, e)
}

// MarkStoppedNodes marks the nodes silent since before cutoff; the
// conditional UPDATE lets one caller only mark each, and the evidence
// goes in its transaction.
func (s *NodeService) MarkStoppedNodes(ctx context.Context, cutoff time.Time, stopped func(*slokeeper.Node) *slokeeper.Evidence) ([]*slokeeper.Node, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mark stopped nodes: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		UPDATE nodes SET stopped_at = last_seen WHERE stopped_at IS NULL AND last_seen < ?
		RETURNING name, started_at, last_seen, version, address, stopped_at`, formatTime(cutoff))
	if err != nil {
		return nil, fmt.Errorf("mark stopped nodes: %w", err)
	}
	ns, err := scanNodes(rows)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if stopped != nil {
			if err := recordIn(ctx, tx, stopped(n)); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mark stopped nodes: %w", err)
	}
	return ns, nil
}

// FindNodes returns every node by name.
func (s *NodeService) FindNodes(ctx context.Context) ([]*slokeeper.Node, error) {
	rows, err := s.db.read.QueryContext(ctx, `
		SELECT name, started_at, last_seen, version, address, stopped_at FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find nodes: %w", err)
	}
	return scanNodes(rows)
}

func scanNodes(rows *sql.Rows) ([]*slokeeper.Node, error) {
	defer rows.Close()
	var out []*slokeeper.Node
	for rows.Next() {
		var n slokeeper.Node
		var started, seen string
		var stopped sql.NullString
		if err := rows.Scan(&n.Name, &started, &seen, &n.Version, &n.Address, &stopped); err != nil {
			return nil, fmt.Errorf("read nodes: %w", err)
		}
		var err error
		if n.StartedAt, err = parseTime(started); err != nil {
			return nil, err
		}
		if n.LastSeen, err = parseTime(seen); err != nil {
			return nil, err
		}
		if stopped.Valid {
			if n.StoppedAt, err = parseTime(stopped.String); err != nil {
				return nil, err
			}
		}
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	return out, nil
}

// SwapClusterValue sets name to new if it holds old, in one immediate
// transaction.
func (s *NodeService) SwapClusterValue(ctx context.Context, name string, old, new []byte, e *slokeeper.Evidence) ([]byte, bool, error) {
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("cluster value %s: %w", name, err)
	}
	defer tx.Rollback()
	var cur []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM cluster_values WHERE name = ?`, name).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("cluster value %s: %w", name, err)
	}
	if (cur == nil) != (old == nil) || !bytes.Equal(cur, old) {
		return cur, false, nil
	}
	switch {
	case new == nil:
		_, err = tx.ExecContext(ctx, `DELETE FROM cluster_values WHERE name = ?`, name)
	default:
		_, err = tx.ExecContext(ctx, `INSERT INTO cluster_values (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, new)
	}
	if err != nil {
		return nil, false, fmt.Errorf("cluster value %s: %w", name, err)
	}
	if err := recordIn(ctx, tx, e); err != nil {
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("cluster value %s: %w", name, err)
	}
	return new, true, nil
}

// ClusterValue returns the cluster value name, nil when absent.
func (s *NodeService) ClusterValue(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.read.QueryRowContext(ctx, `SELECT value FROM cluster_values WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster value %s: %w", name, err)
	}
	return v, nil
}
