package logstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"slokeeper"
)

// The shared backend: with Config.Blocks set, the store keeps its blocks in
// a database every node shares (internal/postgres) instead of files. The
// blocks are the same SKB1 blocks, sealing the same code (sealRecords), and
// an export the same sealed-file bytes, rebuilt from the sealed blocks:
// header | blocks | trailer, its SHA-256 the catalog checksum.

// commitShared stores a batch of appends in one database transaction and
// acknowledges them only after COMMIT.
func (s *Store) commitShared(batch []*request) {
	blocks := make([]*slokeeper.LogBlock, 0, len(batch))
	for _, r := range batch {
		blocks = append(blocks, r.meta)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommitTimeout)
	err := s.cfg.Blocks.AppendLogBlocks(ctx, s.cfg.Node, blocks)
	cancel()
	for _, r := range batch {
		switch {
		case err != nil:
			r.err = err
		case r.meta.Err != nil:
			r.err = r.meta.Err
		default:
			r.dup = r.meta.Duplicate
		}
		close(r.done)
	}
}

// logBlock is a block with the index fields a LogBlockStore keeps.
func logBlock(k partKey, data []byte) (*slokeeper.LogBlock, error) {
	h, err := peekHeader(data)
	if err != nil {
		return nil, err
	}
	return blockOf(k, h, data), nil
}

func blockOf(k partKey, h *blockHeader, data []byte) *slokeeper.LogBlock {
	b := &slokeeper.LogBlock{Class: k.class, Day: k.day, Data: data, Records: int64(h.records),
		MinReceived: h.minReceived, MaxReceived: h.maxReceived, Key: h.key, Sources: h.sources}
	if h.flags&flagManySources != 0 {
		b.Sources = nil
	} else if b.Sources == nil {
		b.Sources = []string{}
	}
	return b
}

// sharedStates lists the partitions, or fails as the database does.
func (s *Store) sharedStates(ctx context.Context) ([]*slokeeper.LogPartitionState, error) {
	return s.cfg.Blocks.LogPartitionStates(ctx)
}

func (s *Store) sharedPartitions(ctx context.Context) ([]*slokeeper.LogPartition, error) {
	states, err := s.sharedStates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*slokeeper.LogPartition, len(states))
	for i, st := range states {
		p := st.LogPartition
		out[i] = &p
	}
	return out, nil
}

func (s *Store) sharedQuery(ctx context.Context, q slokeeper.LogQuery, pg *pager, fromDay, toDay string) error {
	parts, err := s.sharedPartitions(ctx)
	if err != nil {
		return err // never "nothing": the caller says the store did not answer
	}
	f := slokeeper.LogBlockFilter{SourceID: q.SourceID}
	if !q.From.IsZero() {
		f.From = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		f.To = q.To.UnixNano()
	}
	var buf []byte
	for _, info := range parts {
		if (q.Class != "" && info.Class != q.Class) || (fromDay != "" && info.Day < fromDay) || (toDay != "" && info.Day > toDay) {
			continue
		}
		k := partKey{info.Class, info.Day}
		// A sealed partition's blocks are ScanLogBlocks'ed in seq order,
		// which sealing wrote in LogPosition order.
		err := pg.partition(k, info.Sealed, func(fn func(*rawRecord) error) error {
			return s.cfg.Blocks.ScanLogBlocks(ctx, k.class, k.day, f, func(data []byte) error {
				br := newBlockReader(bytes.NewReader(data), 0)
				h, payload, err := br.next()
				if err != nil {
					return fmt.Errorf("log partition %s: %w", k, err)
				}
				if info.Sealed && pg.skipBlock(k, h) {
					return nil
				}
				return s.decodeBlockRaw(k, h, payload, &buf, &q, fn)
			})
		})
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) sharedSealDue(ctx context.Context) ([]*slokeeper.LogPartition, error) {
	states, err := s.sharedStates(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	var sealed []*slokeeper.LogPartition
	for _, st := range states {
		day, _ := time.ParseInLocation(time.DateOnly, st.Day, s.cfg.Location)
		due := !st.Sealed && !now.Before(day.AddDate(0, 0, 1).Add(s.cfg.SealDelay))
		// A sealed day with open blocks got a migration's records: seal
		// it again, with the union.
		if !due && !(st.Sealed && st.Pending > 0) {
			continue
		}
		info, err := s.sealShared(ctx, partKey{st.Class, st.Day})
		if err != nil {
			return sealed, err
		}
		sealed = append(sealed, info)
	}
	return sealed, nil
}

// sealShared seals a day in the database: its blocks, sealed and open, are
// read and sealed as a file partition is, and replace it in one
// transaction.
func (s *Store) sealShared(ctx context.Context, k partKey) (*slokeeper.LogPartition, error) {
	info, err := s.cfg.Blocks.SealLogPartition(ctx, k.class, k.day, func(tx slokeeper.LogSealTx) (*slokeeper.LogPartition, error) {
		var buf []byte
		size := int64(len(sealedHeader(k))) + trailerLen
		t, err := s.sealRecords(k, 1<<20, func(fn func(*slokeeper.LogRecord) error) error {
			return tx.Blocks(ctx, func(data []byte) error {
				br := newBlockReader(bytes.NewReader(data), 0)
				h, payload, err := br.next()
				if err != nil {
					return fmt.Errorf("log partition %s: %w", k, err)
				}
				return s.decodeBlock(k, h, payload, &buf, nil, fn)
			})
		}, func(block []byte) error {
			b, err := logBlock(k, bytes.Clone(block))
			if err != nil {
				return err
			}
			size += int64(len(block))
			return tx.Put(ctx, b)
		})
		if err != nil {
			return nil, err
		}
		p := &partition{key: k, sealed: true, records: t.records, bytes: size, minR: t.minR, maxR: t.maxR,
			checksum: hex.EncodeToString(t.sum[:]), sealedAt: s.cfg.Clock.Now()}
		return p.info(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal log partition %s: %w", k, err)
	}
	return info, nil
}

func (s *Store) sharedPartition(ctx context.Context, class, day string) (*slokeeper.LogPartition, error) {
	parts, err := s.sharedPartitions(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if p.Class == class && p.Day == day {
			return p, nil
		}
	}
	return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s/%s.", class, day)
}

// sharedExport writes the sealed file of a sealed day, byte for byte what
// the file backend would hold, and checks its SHA-256 against the catalog.
func (s *Store) sharedExport(ctx context.Context, class, day string, w io.Writer) (*slokeeper.LogPartition, error) {
	info, err := s.sharedPartition(ctx, class, day)
	if err != nil {
		return nil, err
	}
	if !info.Sealed {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Log partition %s/%s is still open; only sealed partitions can be exported.", class, day)
	}
	k := partKey{class, day}
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<20)
	bw.Write(sealedHeader(k))
	var t trailer
	err = s.cfg.Blocks.ScanLogBlocks(ctx, class, day, slokeeper.LogBlockFilter{Sealed: true}, func(data []byte) error {
		h, err := peekHeader(data)
		if err != nil {
			return fmt.Errorf("log partition %s: %w", k, err)
		}
		if t.records == 0 {
			t.minR, t.maxR = h.minReceived, h.maxReceived
		}
		t.records += int64(h.records)
		t.minR, t.maxR = min(t.minR, h.minReceived), max(t.maxR, h.maxReceived)
		_, err = bw.Write(data)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", k, err)
	}
	copy(t.sum[:], sum.Sum(nil))
	if got := hex.EncodeToString(t.sum[:]); got != info.Checksum {
		return nil, fmt.Errorf("export %s: the sealed blocks' SHA-256 %s is not the catalog's %s: the partition is damaged; restore it from its backup", k, got, info.Checksum)
	}
	if _, err := w.Write(appendTrailer(nil, t)); err != nil {
		return nil, fmt.Errorf("export %s: %w", k, err)
	}
	return info, nil
}

// sharedImport verifies the stream completely (into a temporary file)
// before one transaction adds the partition.
func (s *Store) sharedImport(ctx context.Context, r io.Reader) (*slokeeper.LogPartition, error) {
	f, err := os.CreateTemp(s.cfg.Dir, ".import-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	info, err := verifyTo(r, bw, true)
	if err != nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The partition stream does not verify: %v.", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	k := partKey{info.Class, info.Day}
	hdr := int64(len(sealedHeader(k)))
	info.Bytes, info.SealedAt = size, s.cfg.Clock.Now()
	err = s.cfg.Blocks.ImportLogPartition(ctx, info, func(put func(*slokeeper.LogBlock) error) error {
		br := newBlockReader(io.NewSectionReader(f, hdr, size-hdr-trailerLen), 0)
		for {
			h, _, err := br.next()
			if err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := put(blockOf(k, h, bytes.Clone(br.raw()))); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// MigrateReport says what MigrateLocal did.
type MigrateReport struct {
	Partitions int    // local partitions read
	Blocks     int    // blocks moved in (or found moved by an earlier run)
	Records    int64  // records in them
	Skipped    int    // chunks an earlier, interrupted run had moved already
	MovedTo    string // where the local directory went; "" when there was none
}

// migrateChunkBytes bounds one migration transaction.
const migrateChunkBytes = 32 << 20

// MigrateLocal moves the local partitions in dir (a node's DATA/logs from
// before its log store was shared) into the shared store: each block keeps
// its records, their received times and its idempotency key, so a chunk two
// nodes both stored is kept once. Every chunk of blocks is recorded with
// its SHA-256 in the same transaction that adds it, so a run interrupted
// and started again adds nothing twice. A day the shared store has sealed
// is sealed again with the union (its checksum changes, so it is backed up
// anew); a day already due is sealed. Then dir is renamed aside to
// dir.migrated-<time>. Nothing in dir: nothing to do.
func (s *Store) MigrateLocal(ctx context.Context, dir string) (*MigrateReport, error) {
	rep := &MigrateReport{}
	if s.cfg.Blocks == nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The log store is in local files; there is nothing to migrate into (give --db postgres://…).")
	}
	if s.readOnly {
		return nil, errReadOnly
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return rep, nil
	}
	lock, err := lockDir(dir) // no older server writes it meanwhile
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	for _, class := range []string{slokeeper.LogClassSystem, slokeeper.LogClassExec} {
		entries, err := os.ReadDir(dir + "/" + class)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return rep, fmt.Errorf("migrate logs: %w", err)
		}
		for _, e := range entries {
			if _, err := time.Parse(time.DateOnly, e.Name()); err != nil || !e.IsDir() {
				continue // a drop under way, or not a partition
			}
			if err := s.migratePartition(ctx, dir, partKey{class, e.Name()}, rep); err != nil {
				return rep, err
			}
		}
	}
	if _, err := s.SealDue(ctx); err != nil {
		return rep, fmt.Errorf("migrate logs: re-seal: %w", err)
	}
	lock.Close()
	rep.MovedTo = dir + ".migrated-" + s.cfg.Clock.Now().UTC().Format("20060102T150405Z")
	for i := 2; ; i++ { // a second migration within the second keeps the first's copy
		if _, err := os.Lstat(rep.MovedTo); errors.Is(err, os.ErrNotExist) {
			break
		}
		rep.MovedTo = fmt.Sprintf("%s.migrated-%s-%d", dir, s.cfg.Clock.Now().UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(dir, rep.MovedTo); err != nil {
		return rep, fmt.Errorf("migrate logs: %w", err)
	}
	s.cfg.Logger.Info("log store: moved the local log partitions into the shared store", "partitions", rep.Partitions,
		"blocks", rep.Blocks, "records", rep.Records, "chunks_already_moved", rep.Skipped, "local_copy", rep.MovedTo)
	return rep, nil
}

// migratePartition reads one local partition's blocks (sealed.seg's, or
// open.seg's up to a torn tail) and moves them in, chunk by chunk.
func (s *Store) migratePartition(ctx context.Context, dir string, k partKey, rep *MigrateReport) error {
	pdir := dir + "/" + k.class + "/" + k.day
	var r io.Reader
	name := sealedName
	f, err := os.Open(pdir + "/" + sealedName)
	if errors.Is(err, os.ErrNotExist) {
		name = openName
		if f, err = os.Open(pdir + "/" + openName); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("migrate log partition %s: %w", k, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	r = f
	if name == sealedName {
		if _, err := VerifyBytes(f); err != nil {
			return fmt.Errorf("migrate log partition %s: %s does not verify: %w", k, pdir+"/"+sealedName, err)
		}
		hdr := int64(len(sealedHeader(k)))
		r = io.NewSectionReader(f, hdr, fi.Size()-hdr-trailerLen)
	}
	rep.Partitions++
	br := newBlockReader(r, 0)
	var chunk []*slokeeper.LogBlock
	size := 0
	sum := sha256.New()
	send := func() error {
		if len(chunk) == 0 {
			return nil
		}
		id := hex.EncodeToString(sum.Sum(nil))
		done, err := s.cfg.Blocks.MigrateLogBlocks(ctx, s.cfg.Node, id, chunk)
		if err != nil {
			return fmt.Errorf("migrate log partition %s: %w", k, err)
		}
		if done {
			rep.Skipped++
		}
		for _, b := range chunk {
			rep.Blocks++
			rep.Records += b.Records
		}
		chunk, size = chunk[:0], 0
		sum.Reset()
		return nil
	}
	for {
		h, _, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if name == openName {
				// As recovery would: a torn tail was never acknowledged.
				s.cfg.Logger.Warn("log store: migration stops at a damaged or torn block", "partition", k.String(), "offset", br.off, "reason", err.Error())
				break
			}
			return fmt.Errorf("migrate log partition %s: %w", k, err)
		}
		if size == 0 {
			fmt.Fprintf(sum, "%s\n", k) // the same bytes in two days are two chunks
		}
		raw := bytes.Clone(br.raw())
		sum.Write(raw)
		chunk = append(chunk, blockOf(k, h, raw))
		if size += len(raw); size >= migrateChunkBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}
