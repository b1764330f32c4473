package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5"
)

// NodeService keeps the cluster's nodes and cluster values in PostgreSQL.
type NodeService struct {
	db *DB
}

var _ slokeeper.NodeService = (*NodeService)(nil)

// NewNodeService returns a NodeService on db.
func NewNodeService(db *DB) *NodeService { return &NodeService{db: db} }

// BeatNode records n's heartbeat. The row lock taken by the first
// statement orders it against MarkStoppedNodes, so exactly one beat
// reports the node back.
func (s *NodeService) BeatNode(ctx context.Context, n *slokeeper.Node, back func(time.Time) *slokeeper.Evidence) (time.Time, error) {
	if err := n.Validate(); err != nil {
		return time.Time{}, err
	}
	var stopped *time.Time
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT stopped_at FROM nodes WHERE name = $1 FOR UPDATE`, n.Name).Scan(&stopped)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO nodes (name, started_at, last_seen, version, address) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, last_seen = excluded.last_seen,
				version = excluded.version, address = excluded.address, stopped_at = NULL`,
			n.Name, n.StartedAt, n.LastSeen, n.Version, n.Address)
		if err != nil || stopped == nil || back == nil {
			return err
		}
		return recordIn(ctx, tx, back(stopped.UTC()))
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("node heartbeat: %w", interpretError(err))
	}
	n.StoppedAt = time.Time{}
	if stopped == nil {
		return time.Time{}, nil
	}
	return stopped.UTC(), nil
}

// MarkStoppedNodes marks the nodes silent since before cutoff; the
// conditional UPDATE lets one caller only mark each, and the evidence
// goes in its transaction.
func (s *NodeService) MarkStoppedNodes(ctx context.Context, cutoff time.Time, stopped func(*slokeeper.Node) *slokeeper.Evidence) ([]*slokeeper.Node, error) {
	var ns []*slokeeper.Node
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE nodes SET stopped_at = last_seen WHERE stopped_at IS NULL AND last_seen < $1
			RETURNING name, started_at, last_seen, version, address, stopped_at`, cutoff)
		if err != nil {
			return err
		}
		if ns, err = scanNodes(rows); err != nil {
			return err
		}
		for _, n := range ns {
			if stopped != nil {
				if err := recordIn(ctx, tx, stopped(n)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark stopped nodes: %w", err)
	}
	return ns, nil
}

// recordIn validates and stores e (nil: nothing) in tx.
func recordIn(ctx context.Context, tx pgx.Tx, e *slokeeper.Evidence) error {
	if e == nil {
		return nil
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return insertEvidence(ctx, tx, e)
}

// FindNodes returns every node by name.
func (s *NodeService) FindNodes(ctx context.Context) ([]*slokeeper.Node, error) {
	rows, err := s.db.pool.Query(ctx, `
		SELECT name, started_at, last_seen, version, address, stopped_at FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find nodes: %w", err)
	}
	return scanNodes(rows)
}

func scanNodes(rows pgx.Rows) ([]*slokeeper.Node, error) {
	defer rows.Close()
	var out []*slokeeper.Node
	for rows.Next() {
		var n slokeeper.Node
		var stopped *time.Time
		if err := rows.Scan(&n.Name, &n.StartedAt, &n.LastSeen, &n.Version, &n.Address, &stopped); err != nil {
			return nil, fmt.Errorf("read nodes: %w", err)
		}
		n.StartedAt, n.LastSeen = n.StartedAt.UTC(), n.LastSeen.UTC()
		if stopped != nil {
			n.StoppedAt = stopped.UTC()
		}
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	return out, nil
}

// SwapClusterValue sets name to new if it holds old. A transaction-scoped
// advisory lock on the name serializes swappers, the absent value too
// (a row lock cannot lock a row that does not exist).
func (s *NodeService) SwapClusterValue(ctx context.Context, name string, old, new []byte, e *slokeeper.Evidence) ([]byte, bool, error) {
	var cur []byte
	swapped := false
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('slokeeper cluster value ' || $1, 0))`, name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT value FROM cluster_values WHERE name = $1`, name).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if (cur == nil) != (old == nil) || !bytes.Equal(cur, old) {
			return nil
		}
		if new == nil {
			_, err = tx.Exec(ctx, `DELETE FROM cluster_values WHERE name = $1`, name)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO cluster_values (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, new)
		}
		if err != nil {
			return err
		}
		if err := recordIn(ctx, tx, e); err != nil {
			return err
		}
		cur, swapped = new, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("cluster value %s: %w", name, interpretError(err))
	}
	return cur, swapped, nil
}

// ClusterValue returns the cluster value name, nil when absent.
func (s *NodeService) ClusterValue(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.pool.QueryRow(ctx, `SELECT value FROM cluster_values WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster value %s: %w", name, err)
	}
	return v, nil
}
