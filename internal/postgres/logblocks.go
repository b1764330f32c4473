package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"slokeeper"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LogBlocks keeps the log store's blocks in PostgreSQL, shared by every
// node (see migration 017_log_blocks.sql).
//
// Locks: each partition (class, day) has an advisory lock key. Appends
// hold it shared for their transaction; seal, migration, import and drop
// hold it exclusively, so a seal sees every block acknowledged before it
// and no append lands in a day once it is sealed. Creating a partition's
// tables takes a second key, exclusively, so that two nodes' first
// appends to a new day create it once.
type LogBlocks struct {
	db *DB

	mu      sync.Mutex
	created map[string]bool // parts whose tables this process made sure of
}

var _ slokeeper.LogBlockStore = (*LogBlocks)(nil)

// NewLogBlocks returns the shared log block store on db.
func NewLogBlocks(db *DB) *LogBlocks { return &LogBlocks{db: db, created: map[string]bool{}} }

// errLogDBUnavailable: nothing of the operation took effect, and it can be
// tried again.
var errLogDBUnavailable = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The log database cannot be reached; nothing of this request was stored. Retry later.")

// logError translates a driver error: a connection failure, the server
// shutting down, a serialization failure or deadlock is EUNAVAILABLE
// (retry later); the rest as interpretError does.
func logError(op string, err error) error {
	if slokeeper.ErrorCode(err) != slokeeper.EINTERNAL {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c := pe.Code
		if !strings.HasPrefix(c, "08") && !strings.HasPrefix(c, "57") && !strings.HasPrefix(c, "53") && c != "40001" && c != "40P01" {
			return fmt.Errorf("%s: %w", op, interpretError(err))
		}
	}
	return fmt.Errorf("%s: %w: %w", op, errLogDBUnavailable, err)
}

// logPart names a partition as the tables' part column does, and its
// PostgreSQL partitions' suffix; class and day are checked first, as both
// end up in identifiers.
func logPart(class, day string) (part, suffix string, err error) {
	if class != slokeeper.LogClassSystem && class != slokeeper.LogClassExec {
		return "", "", slokeeper.Errorf(slokeeper.EINVALID, "Log class %q is not system or exec.", class)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return "", "", slokeeper.Errorf(slokeeper.EINVALID, "Log day %q is not YYYY-MM-DD.", day)
	}
	return class + "/" + day, class + "_" + strings.ReplaceAll(day, "-", "_"), nil
}

const (
	lockShared    = `SELECT pg_advisory_xact_lock_shared(hashtextextended('slokeeper.log:' || $1, 0))`
	lockExclusive = `SELECT pg_advisory_xact_lock(hashtextextended('slokeeper.log:' || $1, 0))`
	lockCreate    = `SELECT pg_advisory_xact_lock(hashtextextended('slokeeper.logcreate:' || $1, 0))`
)

// ensure makes sure the partition's tables and catalog row exist.
func (l *LogBlocks) ensure(ctx context.Context, class, day string) error {
	part, _, err := logPart(class, day)
	if err != nil {
		return err
	}
	l.mu.Lock()
	done := l.created[part]
	l.mu.Unlock()
	if done {
		return nil
	}
	if err := pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error { return ensureIn(ctx, tx, class, day) }); err != nil {
		return logError("create log partition "+part, err)
	}
	l.mu.Lock()
	l.created[part] = true
	l.mu.Unlock()
	return nil
}

func (l *LogBlocks) forget(part string) {
	l.mu.Lock()
	delete(l.created, part)
	l.mu.Unlock()
}

// ensureIn creates the partition's tables when missing. CREATE TABLE …
// PARTITION OF locks the parent table exclusively, so it runs only when the
// table is not there yet, under the creation lock.
func ensureIn(ctx context.Context, tx pgx.Tx, class, day string) error {
	part, suffix, err := logPart(class, day)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, lockCreate, part); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('log_sealed_`+suffix+`') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		lit := "'" + part + "'" // checked by logPart: letters, digits, '/' and '-'
		for _, q := range []string{
			`CREATE TABLE IF NOT EXISTS log_open_` + suffix + ` PARTITION OF log_open_blocks FOR VALUES IN (` + lit + `)`,
			`CREATE TABLE IF NOT EXISTS log_sealed_` + suffix + ` PARTITION OF log_sealed_blocks FOR VALUES IN (` + lit + `)`,
			`CREATE TABLE IF NOT EXISTS log_keys_` + suffix + ` PARTITION OF log_sealed_keys FOR VALUES IN (` + lit + `)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO log_partitions (class, day) VALUES ($1, $2::date) ON CONFLICT DO NOTHING`, class, day)
	return err
}

func nullKey(k string) *string {
	if k == "" {
		return nil
	}
	return &k
}

const insertOpen = `INSERT INTO log_open_blocks (part, records, bytes, min_received, max_received, sources, key, node, data)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
	WHERE NOT EXISTS (SELECT 1 FROM log_partitions WHERE class = $10 AND day = $11::date AND sealed)
	ON CONFLICT (part, key) DO NOTHING`

// AppendLogBlocks stores blocks in one transaction: one round trip for the
// locks and inserts, one for COMMIT.
func (l *LogBlocks) AppendLogBlocks(ctx context.Context, node string, blocks []*slokeeper.LogBlock) error {
	err := l.appendOnce(ctx, node, blocks)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" {
		// No partition for a row: the day was dropped since this process
		// created it. Make it again and retry once.
		for _, b := range blocks {
			l.forget(b.Class + "/" + b.Day)
		}
		err = l.appendOnce(ctx, node, blocks)
	}
	if err != nil {
		return logError("append log blocks", err)
	}
	return nil
}

func (l *LogBlocks) appendOnce(ctx context.Context, node string, blocks []*slokeeper.LogBlock) error {
	var parts []string
	seen := map[string]bool{}
	for _, b := range blocks {
		b.Duplicate, b.Err = false, nil
		p := b.Class + "/" + b.Day
		if !slices.Contains(parts, p) {
			if err := l.ensure(ctx, b.Class, b.Day); err != nil {
				return err
			}
			parts = append(parts, p)
		}
		if b.Key != "" {
			if seen[p+"\x00"+b.Key] {
				b.Duplicate = true
			}
			seen[p+"\x00"+b.Key] = true
		}
	}
	slices.Sort(parts) // one lock order for every node
	return pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, p := range parts {
			batch.Queue(lockShared, p)
		}
		var sent []*slokeeper.LogBlock
		for _, b := range blocks {
			if b.Duplicate {
				continue
			}
			batch.Queue(insertOpen, b.Class+"/"+b.Day, b.Records, len(b.Data), b.MinReceived, b.MaxReceived, b.Sources, nullKey(b.Key), node, b.Data, b.Class, b.Day)
			sent = append(sent, b)
		}
		res := tx.SendBatch(ctx, batch)
		for range parts {
			if _, err := res.Exec(); err != nil {
				res.Close()
				return err
			}
		}
		var missed []*slokeeper.LogBlock
		for _, b := range sent {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				missed = append(missed, b)
			}
		}
		if err := res.Close(); err != nil {
			return err
		}
		// Nothing inserted: the day is sealed, or the key is stored.
		for _, b := range missed {
			var sealed bool
			if err := tx.QueryRow(ctx, `SELECT sealed FROM log_partitions WHERE class = $1 AND day = $2::date`, b.Class, b.Day).Scan(&sealed); err != nil {
				return err
			}
			if sealed {
				b.Err = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "Log partition %s/%s is already sealed; send again.", b.Class, b.Day)
			} else {
				b.Duplicate = true
			}
		}
		return nil
	})
}

// ScanLogBlocks streams the blocks that may match f: sealed, then open.
func (l *LogBlocks) ScanLogBlocks(ctx context.Context, class, day string, f slokeeper.LogBlockFilter, fn func([]byte) error) error {
	part, _, err := logPart(class, day)
	if err != nil {
		return err
	}
	tables := []string{"log_sealed_blocks", "log_open_blocks"}
	if f.Sealed {
		tables = tables[:1]
	}
	where, args := "part = $1", []any{part}
	if f.SourceID != "" {
		args = append(args, []string{f.SourceID})
		where += fmt.Sprintf(" AND (sources IS NULL OR sources @> $%d)", len(args))
	}
	if f.From != 0 {
		args = append(args, f.From)
		where += fmt.Sprintf(" AND max_received >= $%d", len(args))
	}
	if f.To != 0 {
		args = append(args, f.To)
		where += fmt.Sprintf(" AND min_received < $%d", len(args))
	}
	for _, t := range tables {
		rows, err := l.db.pool.Query(ctx, `SELECT data FROM `+t+` WHERE `+where+` ORDER BY seq`, args...)
		if err != nil {
			return logError("scan log partition "+part, err)
		}
		var data []byte
		for rows.Next() {
			if err := rows.Scan(&data); err != nil {
				rows.Close()
				return logError("scan log partition "+part, err)
			}
			if err := fn(data); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return logError("scan log partition "+part, err)
		}
	}
	return nil
}

// sealTx is a LogSealTx: the blocks it puts are copied in batches.
type sealTx struct {
	tx      pgx.Tx
	part    string
	sealed  []int64 // the sealed blocks' seqs before this seal
	open    []int64
	nextSeq int64
	pending [][]any
	size    int
}

// Blocks reads the blocks a chunk at a time, so that Put can write
// between chunks on the same connection.
func (s *sealTx) Blocks(ctx context.Context, fn func([]byte) error) error {
	for _, list := range []struct {
		table string
		seqs  []int64
	}{{"log_sealed_blocks", s.sealed}, {"log_open_blocks", s.open}} {
		for seqs := list.seqs; len(seqs) > 0; {
			n := min(len(seqs), 64)
			rows, err := s.tx.Query(ctx, `SELECT data FROM `+list.table+` WHERE part = $1 AND seq = ANY($2) ORDER BY seq`, s.part, seqs[:n])
			if err != nil {
				return err
			}
			chunk, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
			if err != nil {
				return err
			}
			for _, d := range chunk {
				if err := fn(d); err != nil {
					return err
				}
			}
			seqs = seqs[n:]
			if err := s.flush(ctx, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sealTx) Put(ctx context.Context, b *slokeeper.LogBlock) error {
	s.pending = append(s.pending, []any{s.part, s.nextSeq, int32(b.Records), int32(len(b.Data)), b.MinReceived, b.MaxReceived, b.Sources, b.Data})
	s.nextSeq++
	s.size += len(b.Data)
	return nil
}

// flush copies the pending blocks in; unless all, only once 8 MiB have
// gathered.
func (s *sealTx) flush(ctx context.Context, all bool) error {
	if len(s.pending) == 0 || (!all && s.size < 8<<20) {
		return nil
	}
	_, err := s.tx.CopyFrom(ctx, pgx.Identifier{"log_sealed_blocks"},
		[]string{"part", "seq", "records", "bytes", "min_received", "max_received", "sources", "data"}, pgx.CopyFromRows(s.pending))
	s.pending, s.size = s.pending[:0], 0
	return err
}

func seqs(ctx context.Context, tx pgx.Tx, table, part string) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT seq FROM `+table+` WHERE part = $1 ORDER BY seq`, part)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func nsTime(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := time.Unix(0, *ns).UTC()
	return &t
}

// findPartition reads the catalog row; ENOTFOUND when there is none.
func findPartition(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, class, day string) (*slokeeper.LogPartition, error) {
	p := &slokeeper.LogPartition{}
	var minR, maxR, sealedAt *time.Time
	err := q.QueryRow(ctx, `SELECT class, to_char(day, 'YYYY-MM-DD'), records, bytes, sealed, checksum, min_received, max_received, sealed_at
		FROM log_partitions WHERE class = $1 AND day = $2::date`, class, day).
		Scan(&p.Class, &p.Day, &p.Records, &p.Bytes, &p.Sealed, &p.Checksum, &minR, &maxR, &sealedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s/%s.", class, day)
	} else if err != nil {
		return nil, err
	}
	p.MinReceived, p.MaxReceived, p.SealedAt = fromNull(minR), fromNull(maxR), fromNull(sealedAt)
	return p, nil
}

func setCatalog(ctx context.Context, tx pgx.Tx, p *slokeeper.LogPartition) error {
	_, err := tx.Exec(ctx, `UPDATE log_partitions SET records = $3, bytes = $4, sealed = $5, checksum = $6, min_received = $7, max_received = $8, sealed_at = $9
		WHERE class = $1 AND day = $2::date`,
		p.Class, p.Day, p.Records, p.Bytes, p.Sealed, p.Checksum, nullTime(p.MinReceived), nullTime(p.MaxReceived), nullTime(p.SealedAt))
	return err
}

// SealLogPartition seals under the partition's exclusive lock: a second
// node trying at once waits, then finds it sealed.
func (l *LogBlocks) SealLogPartition(ctx context.Context, class, day string, seal func(slokeeper.LogSealTx) (*slokeeper.LogPartition, error)) (*slokeeper.LogPartition, error) {
	part, _, err := logPart(class, day)
	if err != nil {
		return nil, err
	}
	var out *slokeeper.LogPartition
	err = pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockExclusive, part); err != nil {
			return err
		}
		cur, err := findPartition(ctx, tx, class, day)
		if err != nil {
			return err
		}
		st := &sealTx{tx: tx, part: part}
		if st.open, err = seqs(ctx, tx, "log_open_blocks", part); err != nil {
			return err
		}
		if cur.Sealed && len(st.open) == 0 {
			out = cur
			return nil
		}
		if st.sealed, err = seqs(ctx, tx, "log_sealed_blocks", part); err != nil {
			return err
		}
		if len(st.sealed) > 0 {
			st.nextSeq = st.sealed[len(st.sealed)-1] + 1
		}
		info, err := seal(st)
		if err != nil {
			return err
		}
		if err := st.flush(ctx, true); err != nil {
			return err
		}
		if len(st.sealed) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM log_sealed_blocks WHERE part = $1 AND seq <= $2`, part, st.sealed[len(st.sealed)-1]); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO log_sealed_keys (part, key) SELECT part, key FROM log_open_blocks WHERE part = $1 AND key IS NOT NULL
			ON CONFLICT DO NOTHING`, part); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM log_open_blocks WHERE part = $1`, part); err != nil {
			return err
		}
		if err := setCatalog(ctx, tx, info); err != nil {
			return err
		}
		out = info
		return nil
	})
	if err != nil {
		return nil, logError("seal log partition "+part, err)
	}
	return out, nil
}

// ImportLogPartition adds a sealed partition that is not there yet.
func (l *LogBlocks) ImportLogPartition(ctx context.Context, p *slokeeper.LogPartition, blocks func(put func(*slokeeper.LogBlock) error) error) error {
	part, _, err := logPart(p.Class, p.Day)
	if err != nil {
		return err
	}
	if err := l.ensure(ctx, p.Class, p.Day); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockExclusive, part); err != nil {
			return err
		}
		if err := ensureIn(ctx, tx, p.Class, p.Day); err != nil { // dropped since ensure
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT (SELECT sealed FROM log_partitions WHERE class = $2 AND day = $3::date)
			OR EXISTS (SELECT 1 FROM log_open_blocks WHERE part = $1) OR EXISTS (SELECT 1 FROM log_sealed_blocks WHERE part = $1)`,
			part, p.Class, p.Day).Scan(&used); err != nil {
			return err
		}
		if used {
			return slokeeper.Errorf(slokeeper.ECONFLICT, "Log partition %s already exists; drop it first to restore over it.", part)
		}
		st := &sealTx{tx: tx, part: part}
		err := blocks(func(b *slokeeper.LogBlock) error {
			st.Put(ctx, b)
			return st.flush(ctx, false)
		})
		if err != nil {
			return err
		}
		if err := st.flush(ctx, true); err != nil {
			return err
		}
		return setCatalog(ctx, tx, p)
	})
	if err != nil {
		return logError("import log partition "+part, err)
	}
	return nil
}

// MigrateLogBlocks adds a local partition's blocks once, under the
// partition's exclusive lock (no seal runs meanwhile).
func (l *LogBlocks) MigrateLogBlocks(ctx context.Context, node, id string, blocks []*slokeeper.LogBlock) (bool, error) {
	if len(blocks) == 0 {
		return true, nil
	}
	class, day := blocks[0].Class, blocks[0].Day
	part, _, err := logPart(class, day)
	if err != nil {
		return false, err
	}
	if err := l.ensure(ctx, class, day); err != nil {
		return false, err
	}
	var done bool
	err = pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockExclusive, part); err != nil {
			return err
		}
		if err := ensureIn(ctx, tx, class, day); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM log_migrations WHERE id = $1)`, id).Scan(&done); err != nil || done {
			return err
		}
		batch := &pgx.Batch{}
		for _, b := range blocks {
			if b.Class != class || b.Day != day {
				return slokeeper.Errorf(slokeeper.EINVALID, "A migration moves one partition at a time.")
			}
			batch.Queue(`INSERT INTO log_open_blocks (part, records, bytes, min_received, max_received, sources, key, node, data)
				SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
				WHERE NOT EXISTS (SELECT 1 FROM log_sealed_keys WHERE part = $1 AND key = $7)
				ON CONFLICT (part, key) DO NOTHING`,
				part, b.Records, len(b.Data), b.MinReceived, b.MaxReceived, b.Sources, nullKey(b.Key), node, b.Data)
		}
		batch.Queue(`INSERT INTO log_migrations (id, class, day, node, blocks) VALUES ($1, $2, $3::date, $4, $5)`, id, class, day, node, len(blocks))
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return false, logError("migrate log partition "+part, err)
	}
	return done, nil
}

// DropLogPartition drops the day's tables and catalog row: O(1).
func (l *LogBlocks) DropLogPartition(ctx context.Context, class, day string) error {
	part, suffix, err := logPart(class, day)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, l.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockExclusive, part); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM log_partitions WHERE class = $1 AND day = $2::date`, class, day)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s.", part)
		}
		for _, t := range []string{"log_open_" + suffix, "log_sealed_" + suffix, "log_keys_" + suffix} {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
				return err
			}
		}
		return nil
	})
	l.forget(part)
	if err != nil {
		return logError("drop log partition "+part, err)
	}
	return nil
}

// LogPartitionStates lists the catalog with the open blocks' sums: the
// cluster's counts, every node's blocks included.
func (l *LogBlocks) LogPartitionStates(ctx context.Context) ([]*slokeeper.LogPartitionState, error) {
	rows, err := l.db.pool.Query(ctx, `
		SELECT c.class, to_char(c.day, 'YYYY-MM-DD'), c.records, c.bytes, c.sealed, c.checksum, c.min_received, c.max_received, c.sealed_at,
			COALESCE(o.records, 0), COALESCE(o.bytes, 0), o.min_received, o.max_received
		FROM log_partitions c LEFT JOIN (
			SELECT part, SUM(records)::bigint AS records, SUM(bytes)::bigint AS bytes, MIN(min_received) AS min_received, MAX(max_received) AS max_received
			FROM log_open_blocks GROUP BY part
		) o ON o.part = c.class || '/' || to_char(c.day, 'YYYY-MM-DD')
		ORDER BY c.class, c.day`)
	if err != nil {
		return nil, logError("list log partitions", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*slokeeper.LogPartitionState, error) {
		var s slokeeper.LogPartitionState
		p := &s.LogPartition
		var minR, maxR, sealedAt *time.Time
		var oRecords, oBytes int64
		var oMin, oMax *int64
		if err := row.Scan(&p.Class, &p.Day, &p.Records, &p.Bytes, &p.Sealed, &p.Checksum, &minR, &maxR, &sealedAt, &oRecords, &oBytes, &oMin, &oMax); err != nil {
			return nil, err
		}
		p.MinReceived, p.MaxReceived, p.SealedAt = fromNull(minR), fromNull(maxR), fromNull(sealedAt)
		if p.Sealed {
			s.Pending = oRecords
		} else {
			p.Records, p.Bytes = oRecords, oBytes
			p.MinReceived, p.MaxReceived = fromNull(nsTime(oMin)), fromNull(nsTime(oMax))
		}
		return &s, nil
	})
	if err != nil {
		return nil, logError("list log partitions", err)
	}
	return out, nil
}
