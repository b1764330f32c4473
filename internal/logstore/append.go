package logstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"slokeeper"
)

// ErrClosed is returned by AppendLogs after Close.
var ErrClosed = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The log store is shutting down.")

// request is one Append waiting for the writer.
type request struct {
	part     partKey
	block    []byte
	records  int64
	key      string
	received int64
	meta     *slokeeper.LogBlock // the block and its index, for Config.Blocks
	dup      bool
	err      error
	done     chan struct{}
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// AppendLogs stores recs as received now, in class, and returns once they are
// durable (written and fsynced), together with whatever other appends the
// same group commit carried. All of recs are stored or none. A non-empty
// key makes the append idempotent: while the day's partition is open, an
// append with a key already stored adds nothing and reports Duplicate.
//
// AppendLogs fills in each record's Received and Class.
func (s *Store) AppendLogs(ctx context.Context, class string, recs []slokeeper.LogRecord, key string) (duplicate bool, err error) {
	if s.readOnly {
		return false, errReadOnly
	}
	if len(recs) == 0 {
		return false, nil
	}
	if class != slokeeper.LogClassSystem && class != slokeeper.LogClassExec {
		return false, slokeeper.Errorf(slokeeper.EINVALID, "Log class %q is not system or exec.", class)
	}
	now := s.cfg.Clock.Now()
	for i := range recs {
		recs[i].Received, recs[i].Class = now, class
	}
	// Encoding and compression happen here, on the caller's goroutine, so
	// that they run in parallel; the writer only writes and syncs.
	sp := scratchPool.Get().(*[]byte)
	block, scratch := appendBlock(nil, recs, key, s.compress, *sp)
	*sp = scratch[:0]
	scratchPool.Put(sp)
	// Half the commit bound: the writer gathers appends while under half,
	// so no commit ever passes the bound recovery relies on.
	if len(block) > s.cfg.MaxCommitBytes/2 {
		return false, slokeeper.Errorf(slokeeper.EINVALID, "The batch is too large to store at once (%d bytes compressed).", len(block))
	}
	req := &request{part: partKey{class, s.dayOf(now)}, block: block, records: int64(len(recs)), key: key, received: now.UnixNano(), done: make(chan struct{})}
	if s.cfg.Blocks != nil {
		var err error
		if req.meta, err = logBlock(req.part, block); err != nil {
			return false, err
		}
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.closing:
		return false, ErrClosed
	}
	// Once queued the write goes ahead; wait for it even if ctx ends, so
	// that a caller never reports failure for records that were stored.
	<-req.done
	return req.dup, req.err
}

func (s *Store) compress(dst, src []byte) []byte { return s.enc.EncodeAll(src, dst) }

// run is the writer: it takes queued appends, as many as are waiting, and
// commits them together.
func (s *Store) run() {
	defer close(s.done)
	for {
		var first *request
		select {
		case first = <-s.reqs:
		case <-s.closing:
			// Finish what was queued before Close.
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*request{r})
				default:
					return
				}
			}
		}
		batch, size := []*request{first}, len(first.block)
	gather:
		for size < s.cfg.MaxCommitBytes/2 && len(batch) < 4096 {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				size += len(r.block)
			default:
				break gather
			}
		}
		s.commit(batch)
	}
}

// commit writes a batch of appends and syncs every file it touched once:
// the group commit. Then it acknowledges them all.
func (s *Store) commit(batch []*request) {
	if s.cfg.Blocks != nil {
		s.commitShared(batch)
		return
	}
	type pending struct {
		p     *partition
		reqs  []*request
		start int64 // durable size before this commit
		end   int64
	}
	touched := map[*partition]*pending{}
	var order []*pending
	inBatch := map[string]bool{}
	for _, r := range batch {
		if r.key != "" {
			s.mu.Lock()
			_, stored := s.keys[r.key]
			s.mu.Unlock()
			if stored || inBatch[r.key] {
				r.dup = true
				continue
			}
		}
		p, err := s.openPartition(r.part)
		if err != nil {
			r.err = err
			continue
		}
		pd := touched[p]
		if pd == nil {
			p.mu.RLock()
			sealed, size := p.sealed || p.sealing, p.size
			p.mu.RUnlock()
			if sealed {
				r.err = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "Log partition %s is already sealed; send again.", p.key)
				continue
			}
			pd = &pending{p: p, start: size, end: size}
			touched[p] = pd
			order = append(order, pd)
		}
		if _, err := s.cfg.WriteAt(p.f, r.block, pd.end); err != nil {
			// What was written past pd.end is not counted: the next append
			// writes over it, and recovery cuts it as a torn tail.
			r.err = writeError(p.key, "write", err)
			continue
		}
		pd.end += int64(len(r.block))
		pd.reqs = append(pd.reqs, r)
		if r.key != "" {
			inBatch[r.key] = true
		}
	}
	for _, pd := range order {
		err := pd.p.f.Sync()
		if err != nil {
			// The file's state past the last good sync is unknown: cut it
			// back and fail every append that went there.
			pd.p.f.Truncate(pd.start)
			for _, r := range pd.reqs {
				r.err = writeError(pd.p.key, "sync", err)
			}
			continue
		}
		pd.p.mu.Lock()
		pd.p.size = pd.end
		for _, r := range pd.reqs {
			pd.p.account(r.records, int64(len(r.block)), r.received, r.received)
		}
		pd.p.mu.Unlock()
		s.mu.Lock()
		for _, r := range pd.reqs {
			if r.key != "" {
				s.keys[r.key] = pd.p.key
			}
		}
		s.mu.Unlock()
	}
	for _, r := range batch {
		close(r.done)
	}
}

// ErrDiskFull is what an append returns when the disk holding the store
// is full (ENOSPC, or EDQUOT: a quota): nothing of it was stored, and it
// may be sent again once space is freed.
var ErrDiskFull = slokeeper.Errorf(slokeeper.EFULL, "The disk holding the log store is full; nothing of this request was stored. Retry later.")

// writeError names a failed write or sync of a partition; a full disk
// becomes ErrDiskFull, which callers can answer with "retry later".
func writeError(k partKey, op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%s log partition %s: %w: %w", op, k, ErrDiskFull, err)
	}
	return fmt.Errorf("%s log partition %s: %w", op, k, err)
}

// openPartition returns the partition, creating its directory, open.seg
// and catalog entry when it is new.
func (s *Store) openPartition(k partKey) (*partition, error) {
	s.mu.Lock()
	p := s.parts[k]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	dir := s.partDir(k)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log partition %s: %w", k, err)
	}
	f, err := os.OpenFile(dir+"/open.seg", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log partition %s: %w", k, err)
	}
	for _, d := range []string{dir, s.cfg.Dir + "/" + k.class, s.cfg.Dir} {
		if err := syncDir(d); err != nil {
			f.Close()
			return nil, fmt.Errorf("create log partition %s: %w", k, err)
		}
	}
	p = &partition{key: k, dir: dir, f: f}
	if err := s.cfg.Catalog.UpsertLogPartition(context.Background(), p.info()); err != nil {
		f.Close()
		return nil, fmt.Errorf("catalog log partition %s: %w", k, err)
	}
	s.mu.Lock()
	s.parts[k] = p
	s.mu.Unlock()
	return p, nil
}
