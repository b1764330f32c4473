package logstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"slokeeper"

	"github.com/klauspost/compress/zstd"
)

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

func verifyDecoder() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPayloadLen*8))
	return d
}

// scan calls fn for each record in the first size bytes of one of the
// partition's files (all of it when size < 0), skipping blocks whose
// header shows they cannot match q (nil: read every block).
func (s *Store) scan(p *partition, size int64, name string, q *slokeeper.LogQuery, skip func(*blockHeader) bool, fn func(*slokeeper.LogRecord) error) error {
	return s.scanRaw(p, size, name, q, skip, func(rr *rawRecord) error {
		r := rr.record(p.key.class)
		return fn(&r)
	})
}

// scanRaw is scan with each record still in its payload (reused: fn must
// copy what it keeps), so that a query decodes only what it returns.
func (s *Store) scanRaw(p *partition, size int64, name string, q *slokeeper.LogQuery, skip func(*blockHeader) bool, fn func(*rawRecord) error) error {
	f, err := os.Open(filepath.Join(p.dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	var off int64
	if name == sealedName {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr := int64(len(sealedHeader(p.key)))
		if _, err := f.Seek(hdr, io.SeekStart); err != nil {
			return err
		}
		off, size = hdr, fi.Size()-trailerLen
	}
	if size >= 0 {
		r = io.LimitReader(f, size-off)
	}
	br := newBlockReader(r, off)
	var buf []byte
	for {
		h, payload, err := br.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log partition %s: %w", p.key, err)
		}
		if skip != nil && skip(h) {
			continue
		}
		if err := s.decodeBlockRaw(p.key, h, payload, &buf, q, fn); err != nil {
			return err
		}
	}
}

// decodeBlock calls fn for each record of a block that matches q (nil:
// every record), skipping the block when its header rules it out. buf is
// the decompression buffer, reused.
func (s *Store) decodeBlock(k partKey, h *blockHeader, payload []byte, buf *[]byte, q *slokeeper.LogQuery, fn func(*slokeeper.LogRecord) error) error {
	return s.decodeBlockRaw(k, h, payload, buf, q, func(rr *rawRecord) error {
		r := rr.record(k.class)
		return fn(&r)
	})
}

// decodeBlockRaw is decodeBlock with each matching record still in the
// decompressed payload (reused: fn must copy what it keeps).
func (s *Store) decodeBlockRaw(k partKey, h *blockHeader, payload []byte, buf *[]byte, q *slokeeper.LogQuery, fn func(*rawRecord) error) error {
	if q != nil && !h.mayHold(q) {
		return nil
	}
	var err error
	if *buf, err = s.dec.DecodeAll(payload, (*buf)[:0]); err != nil {
		return fmt.Errorf("log partition %s: %w", k, err)
	}
	return decodeRaw(*buf, h.records, h.minReceived, func(rr *rawRecord) error {
		if q != nil && !matchesRaw(q, rr) {
			return nil // rejected on the bytes: nothing allocated
		}
		return fn(rr)
	})
}

// QueryLogs calls fn for each record matching q and after q.After,
// partition by partition (class, then day), then by source and received
// time: slokeeper.LogPosition order, except for an open partition in a
// stream (see slokeeper.LogQuery.Limit), which comes in arrival order. A
// sealed partition is stored in position order, so the blocks before a
// cursor are skipped on their headers, and a query for one source over one
// day reads only the blocks that hold it; a page of an open partition keeps
// only its Limit smallest positions in memory (see pager).
func (s *Store) QueryLogs(ctx context.Context, q slokeeper.LogQuery, fn func(*slokeeper.LogRecord) error) error {
	pg, err := newPager(&q, fn)
	if err != nil {
		return err
	}
	var fromDay, toDay string
	if !q.From.IsZero() {
		fromDay = s.dayOf(q.From)
	}
	if !q.To.IsZero() {
		toDay = s.dayOf(q.To.Add(-time.Nanosecond))
	}
	if s.cfg.Blocks != nil {
		return s.sharedQuery(ctx, q, pg, fromDay, toDay)
	}
	infos, _ := s.LogPartitions(ctx)
	for _, info := range infos {
		if (q.Class != "" && info.Class != q.Class) || (fromDay != "" && info.Day < fromDay) || (toDay != "" && info.Day > toDay) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := s.partition(info.Class, info.Day)
		if err != nil {
			continue // dropped meanwhile
		}
		p.mu.RLock()
		name, size, sealed := openName, p.size, p.sealed
		if sealed {
			name, size = sealedName, -1
		}
		p.mu.RUnlock()
		skip := func(h *blockHeader) bool { return sealed && pg.skipBlock(p.key, h) }
		emitted := pg.n
		err = pg.partition(p.key, sealed, func(fn func(*rawRecord) error) error {
			return s.scanRaw(p, size, name, &q, skip, fn)
		})
		if errors.Is(err, os.ErrNotExist) && pg.n == emitted {
			// Sealed meanwhile, before anything was emitted (the open
			// file is gone before it is opened, never once it is): read
			// the sealed file.
			sealed = true
			err = pg.partition(p.key, true, func(fn func(*rawRecord) error) error {
				return s.scanRaw(p, -1, sealedName, &q, skip, fn)
			})
		}
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// matchesRaw applies q to a record still in its payload. string(b) == s
// comparisons do not allocate.
func matchesRaw(q *slokeeper.LogQuery, rr *rawRecord) bool {
	f := &rr.fields
	return (q.SourceID == "" || string(f[2]) == q.SourceID) &&
		(q.Account == "" || string(f[0]) == q.Account) &&
		(q.Level == "" || strings.EqualFold(string(f[3]), q.Level)) &&
		(q.From.IsZero() || rr.received >= q.From.UnixNano()) &&
		(q.To.IsZero() || rr.received < q.To.UnixNano()) &&
		(q.Contains == "" || bytes.Contains(f[4], []byte(q.Contains)))
}
