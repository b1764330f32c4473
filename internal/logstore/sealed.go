package logstore

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"slokeeper"
)

// A sealed partition file, also the export format:
//
//	"SKP1" | class (uvarint length + bytes) | day (uvarint length + bytes)
//	blocks
//	"SKT1" | records u64 | min received i64 | max received i64 | SHA-256 of all bytes before the trailer
//
// The SHA-256 is the partition's checksum in the catalog.
var (
	sealedMagic  = [4]byte{'S', 'K', 'P', '1'}
	trailerMagic = [4]byte{'S', 'K', 'T', '1'}
)

const trailerLen = 4 + 8 + 8 + 8 + sha256.Size

const (
	openName   = "open.seg"
	sealedName = "sealed.seg"
	tmpName    = "sealed.seg.tmp"
	dropPrefix = ".drop-"
)

// sealedBlockRecords is the most records a sealed block holds: small
// enough that a query for one source decompresses little beyond it.
const sealedBlockRecords = 4096

func sealedHeader(k partKey) []byte {
	b := append([]byte(nil), sealedMagic[:]...)
	b = binary.AppendUvarint(b, uint64(len(k.class)))
	b = append(b, k.class...)
	b = binary.AppendUvarint(b, uint64(len(k.day)))
	return append(b, k.day...)
}

// recover scans the partitions on disk and repairs what a crash left.
func (s *Store) recover(ctx context.Context) error {
	for _, class := range []string{slokeeper.LogClassSystem, slokeeper.LogClassExec} {
		classDir := filepath.Join(s.cfg.Dir, class)
		entries, err := os.ReadDir(classDir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("log store: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), dropPrefix) && s.readOnly {
				continue // being dropped: not there any more
			}
			if strings.HasPrefix(e.Name(), dropPrefix) {
				// A drop was interrupted after the data left the catalog's view: finish it.
				day := strings.TrimPrefix(e.Name(), dropPrefix)
				if err := s.finishDrop(ctx, partKey{class, day}, filepath.Join(classDir, e.Name())); err != nil {
					return err
				}
				continue
			}
			if _, err := time.Parse(time.DateOnly, e.Name()); err != nil || !e.IsDir() {
				s.cfg.Logger.Warn("log store: ignoring unexpected entry", "path", filepath.Join(classDir, e.Name()))
				continue
			}
			p, err := s.recoverPartition(ctx, partKey{class, e.Name()})
			if err != nil {
				return err
			}
			if p != nil {
				s.parts[p.key] = p
			}
		}
	}
	return nil
}

func (s *Store) recoverPartition(ctx context.Context, k partKey) (*partition, error) {
	dir := s.partDir(k)
	p := &partition{key: k, dir: dir}
	if s.readOnly {
		return s.inspectPartition(k)
	}
	os.Remove(filepath.Join(dir, tmpName)) // an unfinished seal: redone later
	sealedPath, openPath := filepath.Join(dir, sealedName), filepath.Join(dir, openName)
	if t, size, err := readTrailer(sealedPath); err == nil {
		// Sealed; if open.seg is still there the seal stopped after the
		// rename: the sealed file is complete (it was synced before), so
		// finish by dropping open.seg.
		p.sealed, p.records, p.bytes, p.minR, p.maxR = true, t.records, size, t.minR, t.maxR
		p.checksum = hex.EncodeToString(t.sum[:])
		if cat, err := s.cfg.Catalog.FindLogPartitions(ctx, slokeeper.LogPartitionFilter{Class: k.class, Day: k.day}); err == nil && len(cat) == 1 {
			p.sealedAt = cat[0].SealedAt
		}
		if p.sealedAt.IsZero() {
			p.sealedAt = s.cfg.Clock.Now()
		}
		if err := s.cfg.Catalog.UpsertLogPartition(ctx, p.info()); err != nil {
			return nil, err
		}
		if err := os.Remove(openPath); err == nil {
			syncDir(dir)
		}
		return p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("log partition %s: sealed file: %w", k, err)
	}

	f, err := os.OpenFile(openPath, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // an empty directory: a partition created and never written
	} else if err != nil {
		return nil, fmt.Errorf("log partition %s: %w", k, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	br := newBlockReader(f, 0)
	for {
		h, _, err := br.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if fi.Size()-br.off > int64(s.cfg.MaxCommitBytes) {
				f.Close()
				return nil, fmt.Errorf("log partition %s: %s is damaged at offset %d, %d bytes before its end; "+
					"this is not a torn write, so nothing is cut: restore the partition from its backup", k, openPath, br.off, fi.Size()-br.off)
			}
			s.cfg.Logger.Warn("log store: cutting a torn tail left by a crash (never acknowledged)",
				"partition", k.String(), "offset", br.off, "bytes", fi.Size()-br.off, "reason", err.Error())
			if err := f.Truncate(br.off); err != nil {
				f.Close()
				return nil, err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, err
			}
			break
		}
		p.account(int64(h.records), 0, h.minReceived, h.maxReceived)
		if h.key != "" {
			s.keys[h.key] = k
		}
	}
	p.f, p.size, p.bytes = f, br.off, br.off
	if err := s.cfg.Catalog.UpsertLogPartition(ctx, p.info()); err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

// inspectPartition reads a partition's state without changing anything: a
// read-only view beside a writer. An open partition is read up to its last
// complete block; whatever follows may be a block being written.
func (s *Store) inspectPartition(k partKey) (*partition, error) {
	dir := s.partDir(k)
	p := &partition{key: k, dir: dir}
	if t, size, err := readTrailer(filepath.Join(dir, sealedName)); err == nil {
		p.sealed, p.records, p.bytes, p.minR, p.maxR = true, t.records, size, t.minR, t.maxR
		p.checksum = hex.EncodeToString(t.sum[:])
		return p, nil
	}
	f, err := os.Open(filepath.Join(dir, openName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	br := newBlockReader(f, 0)
	for {
		h, _, err := br.next()
		if err != nil {
			break
		}
		p.account(int64(h.records), 0, h.minReceived, h.maxReceived)
	}
	p.size, p.bytes = br.off, br.off
	return p, nil
}

type trailer struct {
	records    int64
	minR, maxR int64
	sum        [sha256.Size]byte
}

func parseTrailer(b []byte) (trailer, error) {
	if len(b) != trailerLen || [4]byte(b[:4]) != trailerMagic {
		return trailer{}, fmt.Errorf("%w: no sealed-partition trailer", errCorrupt)
	}
	t := trailer{
		records: int64(binary.LittleEndian.Uint64(b[4:])),
		minR:    int64(binary.LittleEndian.Uint64(b[12:])),
		maxR:    int64(binary.LittleEndian.Uint64(b[20:])),
	}
	copy(t.sum[:], b[28:])
	return t, nil
}

func readTrailer(path string) (trailer, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return trailer{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return trailer{}, 0, err
	}
	b := make([]byte, trailerLen)
	if _, err := f.ReadAt(b, fi.Size()-trailerLen); err != nil {
		return trailer{}, 0, fmt.Errorf("%w: short sealed file", errCorrupt)
	}
	t, err := parseTrailer(b)
	return t, fi.Size(), err
}

// SealDue seals every open partition whose day closed at least SealDelay
// ago, and returns the partitions it sealed.
func (s *Store) SealDue(ctx context.Context) ([]*slokeeper.LogPartition, error) {
	if s.readOnly {
		return nil, errReadOnly
	}
	if s.cfg.Blocks != nil {
		return s.sharedSealDue(ctx)
	}
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	var due []*partition
	for _, p := range s.parts {
		day, _ := time.ParseInLocation(time.DateOnly, p.key.day, s.cfg.Location)
		closes := day.AddDate(0, 0, 1).Add(s.cfg.SealDelay)
		if !p.sealed && !now.Before(closes) {
			due = append(due, p)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(due, func(a, b *partition) int { return cmp.Compare(a.key.String(), b.key.String()) })
	var sealed []*slokeeper.LogPartition
	for _, p := range due {
		info, err := s.seal(ctx, p)
		if err != nil {
			return sealed, err
		}
		sealed = append(sealed, info)
	}
	return sealed, nil
}

// seal compacts an open partition into sealed.seg: its records sorted by
// source and received time (sealRecords), as blocks of at most
// sealedBlockRecords. The file is synced and
// renamed into place, the catalog updated, and open.seg removed; a crash
// at any point leaves either the open or the sealed partition whole.
func (s *Store) seal(ctx context.Context, p *partition) (*slokeeper.LogPartition, error) {
	p.mu.Lock()
	if p.sealed || p.sealing {
		info := p.info() // under the lock: another seal may be writing these fields
		p.mu.Unlock()
		return info, nil
	}
	p.sealing = true // the writer refuses appends from here on
	size := p.size
	p.mu.Unlock()
	fail := func(err error) (*slokeeper.LogPartition, error) {
		p.mu.Lock()
		p.sealing = false
		p.mu.Unlock()
		os.Remove(filepath.Join(p.dir, tmpName))
		return nil, fmt.Errorf("seal log partition %s: %w", p.key, err)
	}

	tmp, err := os.OpenFile(filepath.Join(p.dir, tmpName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(err)
	}
	defer tmp.Close()
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.Write(sealedHeader(p.key))
	t, err := s.sealRecords(p.key, size, func(fn func(*slokeeper.LogRecord) error) error {
		return s.scan(p, size, openName, nil, nil, fn)
	}, func(block []byte) error {
		_, err := w.Write(block)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fail(err)
	}
	tb := appendTrailer(nil, t)
	if _, err := tmp.Write(tb); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(filepath.Join(p.dir, tmpName), filepath.Join(p.dir, sealedName)); err != nil {
		return fail(err)
	}
	if err := syncDir(p.dir); err != nil {
		return fail(err)
	}

	p.mu.Lock()
	p.sealed, p.sealing = true, false
	p.records, p.bytes, p.minR, p.maxR = t.records, fi.Size(), t.minR, t.maxR
	p.checksum, p.sealedAt = hex.EncodeToString(t.sum[:]), s.cfg.Clock.Now()
	f := p.f
	p.f = nil
	info := p.info()
	p.mu.Unlock()
	if err := s.cfg.Catalog.UpsertLogPartition(ctx, info); err != nil {
		// The sealed file is in place; the next Open records it.
		return nil, fmt.Errorf("seal log partition %s: catalog: %w", p.key, err)
	}
	f.Close()
	os.Remove(filepath.Join(p.dir, openName))
	syncDir(p.dir)
	s.mu.Lock()
	for key, k := range s.keys {
		if k == p.key {
			delete(s.keys, key)
		}
	}
	s.mu.Unlock()
	return info, nil
}

// LogPartitions lists the partitions on disk with their current counts.
func (s *Store) LogPartitions(ctx context.Context) ([]*slokeeper.LogPartition, error) {
	if s.cfg.Blocks != nil {
		return s.sharedPartitions(ctx)
	}
	s.mu.Lock()
	parts := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		parts = append(parts, p)
	}
	s.mu.Unlock()
	out := make([]*slokeeper.LogPartition, 0, len(parts))
	for _, p := range parts {
		p.mu.RLock()
		out = append(out, p.info())
		p.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b *slokeeper.LogPartition) int {
		return cmp.Or(strings.Compare(a.Class, b.Class), strings.Compare(a.Day, b.Day))
	})
	return out, nil
}

func (s *Store) partition(class, day string) (*partition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.parts[partKey{class, day}]
	if p == nil {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No log partition %s/%s.", class, day)
	}
	return p, nil
}

// Export writes a sealed partition in the sealed-file format, which carries
// its own checksum: Verify or Import on the other end proves it whole.
func (s *Store) Export(ctx context.Context, class, day string, w io.Writer) (*slokeeper.LogPartition, error) {
	if s.cfg.Blocks != nil {
		return s.sharedExport(ctx, class, day, w)
	}
	p, err := s.partition(class, day)
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	sealed, info := p.sealed, p.info()
	p.mu.RUnlock()
	if !sealed {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Log partition %s/%s is still open; only sealed partitions can be exported.", class, day)
	}
	f, err := os.Open(filepath.Join(p.dir, sealedName))
	if err != nil {
		return nil, fmt.Errorf("export %s/%s: %w", class, day, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return nil, fmt.Errorf("export %s/%s: %w", class, day, err)
	}
	return info, nil
}

// Verify reads a sealed partition stream to its end and checks everything:
// the header, every block's checksums and records, the record count and
// the SHA-256 in the trailer. It returns what the stream holds.
func Verify(r io.Reader) (*slokeeper.LogPartition, error) {
	return verifyTo(r, io.Discard, true)
}

// VerifyBytes checks a sealed partition stream without decompressing it:
// the header, every block's header and payload checksums, the record count
// and the SHA-256 in the trailer. When that SHA-256 is a known partition's
// checksum, the stream is that partition byte for byte, whose blocks were
// decoded when it was sealed; so a copy of a known partition (a backup)
// is proven whole at the speed of hashing, not of decompression.
func VerifyBytes(r io.Reader) (*slokeeper.LogPartition, error) {
	return verifyTo(r, io.Discard, false)
}

// verifyTo verifies r while copying everything it reads to w; decode
// also decompresses and decodes every record.
func verifyTo(r io.Reader, w io.Writer, decode bool) (*slokeeper.LogPartition, error) {
	sum := sha256.New()
	tr := &trailerHoldback{r: bufio.NewReaderSize(r, 1<<20)}
	in := io.TeeReader(tr, io.MultiWriter(sum, w))
	br := bufio.NewReader(in)
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || magic != sealedMagic {
		return nil, fmt.Errorf("%w: not a sealed log partition", errCorrupt)
	}
	readStr := func() (string, error) {
		l, err := binary.ReadUvarint(br)
		if err != nil || l > 64 {
			return "", errCorrupt
		}
		b := make([]byte, l)
		_, err = io.ReadFull(br, b)
		return string(b), err
	}
	class, err1 := readStr()
	day, err2 := readStr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%w: bad header", errCorrupt)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil || (class != slokeeper.LogClassSystem && class != slokeeper.LogClassExec) {
		return nil, fmt.Errorf("%w: bad class %q or day %q", errCorrupt, class, day)
	}
	var records, minR, maxR int64
	blocks := newBlockReader(br, 0)
	dec := verifyDecoder()
	defer dec.Close()
	var buf []byte
	for {
		h, payload, err := blocks.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		if decode {
			if buf, err = dec.DecodeAll(payload, buf[:0]); err != nil {
				return nil, fmt.Errorf("%w: %v", errCorrupt, err)
			}
			if err := decodeRaw(buf, h.records, h.minReceived, func(*rawRecord) error { return nil }); err != nil {
				return nil, err
			}
		}
		if records == 0 {
			minR, maxR = h.minReceived, h.maxReceived
		}
		records += int64(h.records)
		minR, maxR = min(minR, h.minReceived), max(maxR, h.maxReceived)
	}
	t, err := parseTrailer(tr.held)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(tr.held); err != nil {
		return nil, err
	}
	if got := sum.Sum(nil); !slices.Equal(got, t.sum[:]) {
		return nil, fmt.Errorf("%w: SHA-256 %x does not match the trailer's %x", errCorrupt, got, t.sum)
	}
	if records != t.records || (records > 0 && (minR != t.minR || maxR != t.maxR)) {
		return nil, fmt.Errorf("%w: the blocks hold %d records, the trailer says %d", errCorrupt, records, t.records)
	}
	lp := &slokeeper.LogPartition{Class: class, Day: day, Records: records, Sealed: true, Checksum: hex.EncodeToString(t.sum[:])}
	if records > 0 {
		lp.MinReceived, lp.MaxReceived = time.Unix(0, minR).UTC(), time.Unix(0, maxR).UTC()
	}
	return lp, nil
}

// trailerHoldback passes a stream through but always holds back its last
// trailerLen bytes, which it leaves in held at EOF: the blocks are read
// from everything before them.
type trailerHoldback struct {
	r    io.Reader
	held []byte
	buf  []byte
	eof  bool
}

func (t *trailerHoldback) Read(p []byte) (int, error) {
	for !t.eof && len(t.held) < trailerLen+len(p) {
		if t.buf == nil {
			t.buf = make([]byte, 64<<10)
		}
		n, err := t.r.Read(t.buf)
		t.held = append(t.held, t.buf[:n]...)
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return 0, err
		}
	}
	avail := len(t.held) - trailerLen
	if avail <= 0 {
		return 0, io.EOF
	}
	n := copy(p, t.held[:avail])
	t.held = t.held[n:]
	return n, nil
}

// Import restores a sealed partition from a stream made by Export. It
// verifies the stream completely before the partition appears; an existing
// partition is never overwritten.
func (s *Store) Import(ctx context.Context, r io.Reader) (*slokeeper.LogPartition, error) {
	if s.readOnly {
		return nil, errReadOnly
	}
	if s.cfg.Blocks != nil {
		return s.sharedImport(ctx, r)
	}
	staging, err := os.MkdirTemp(s.cfg.Dir, ".import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging)
	f, err := os.OpenFile(filepath.Join(staging, sealedName), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	info, err := verifyTo(r, bw, true)
	if err != nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The partition stream does not verify: %v.", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	k := partKey{info.Class, info.Day}
	s.mu.Lock()
	_, exists := s.parts[k]
	s.mu.Unlock()
	if exists {
		return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Log partition %s already exists; drop it first to restore over it.", k)
	}
	dir := s.partDir(k)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if err := os.Rename(staging, dir); err != nil {
		return nil, fmt.Errorf("import %s: %w", k, err)
	}
	syncDir(filepath.Dir(dir))
	fi, _ := os.Stat(filepath.Join(dir, sealedName))
	p := &partition{key: k, dir: dir, sealed: true, records: info.Records, checksum: info.Checksum, sealedAt: s.cfg.Clock.Now()}
	if fi != nil {
		p.bytes = fi.Size()
	}
	if info.Records > 0 {
		p.minR, p.maxR = info.MinReceived.UnixNano(), info.MaxReceived.UnixNano()
	}
	s.mu.Lock()
	s.parts[k] = p
	s.mu.Unlock()
	info = p.info()
	if err := s.cfg.Catalog.UpsertLogPartition(ctx, info); err != nil {
		return nil, err
	}
	return info, nil
}

// Drop erases a partition. Its directory is first renamed out of the
// store's view (one atomic step, whatever it holds), then its catalog
// entry is removed and its files deleted; a crash in between is finished
// on the next Open.
func (s *Store) Drop(ctx context.Context, class, day string) error {
	if s.readOnly {
		return errReadOnly
	}
	if s.cfg.Blocks != nil {
		return s.cfg.Blocks.DropLogPartition(ctx, class, day)
	}
	p, err := s.partition(class, day)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	p.sealed = true // refuse appends while it goes
	dropped := filepath.Join(filepath.Dir(p.dir), dropPrefix+day)
	if err := os.Rename(p.dir, dropped); err != nil {
		return fmt.Errorf("drop %s: %w", p.key, err)
	}
	syncDir(filepath.Dir(p.dir))
	s.mu.Lock()
	delete(s.parts, p.key)
	for key, k := range s.keys {
		if k == p.key {
			delete(s.keys, key)
		}
	}
	s.mu.Unlock()
	return s.finishDrop(ctx, p.key, dropped)
}

func (s *Store) finishDrop(ctx context.Context, k partKey, dir string) error {
	if err := s.cfg.Catalog.DeleteLogPartition(ctx, k.class, k.day); err != nil && slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
		return fmt.Errorf("drop %s: %w", k, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("drop %s: %w", k, err)
	}
	return syncDir(filepath.Dir(dir))
}

// sealRecords is sealing, whatever the partition lives in: it reads every
// record of partition k through scan (about sizeHint bytes of blocks) and
// hands emit the sealed blocks, of at most sealedBlockRecords each, in
// order: all records sorted by source, then received time, then the order
// scan gave them. A partition of more than SealRunRecords is sorted
// externally: runs of SealRunRecords are sorted in memory and spilled to
// an unlinked temporary file in Dir, then merged; so memory stays bounded
// and a source's records sit in a few adjacent blocks, which is what lets a
// query for one source read little. It returns the trailer: counts,
// received range and the SHA-256 of the sealed header and blocks.
func (s *Store) sealRecords(k partKey, sizeHint int64, scan func(fn func(*slokeeper.LogRecord) error) error, emit func(block []byte) error) (trailer, error) {
	sum := sha256.New()
	sum.Write(sealedHeader(k))
	var t trailer
	// A small partition (its blocks are sizeHint bytes, no record under
	// about 64) does not need a full run's buffer; append grows it if so.
	run := make([]slokeeper.LogRecord, 0, min(s.cfg.SealRunRecords, 1<<16, int(sizeHint/64)+1))
	var block, scratch []byte
	var order []int32
	var sorted []slokeeper.LogRecord
	out := func(recs []slokeeper.LogRecord) error {
		block, scratch = appendBlock(block[:0], recs, "", s.compress, scratch)
		sum.Write(block)
		return emit(block)
	}
	// writeRun sorts the run and writes it as blocks of per records.
	writeRun := func(per int, write func(block []byte) error) error {
		// Sort indices, not the records: swapping int32s is far cheaper
		// than swapping records; the index breaks ties, keeping it stable.
		order = order[:0]
		for i := range run {
			order = append(order, int32(i))
		}
		slices.SortFunc(order, func(a, b int32) int {
			ra, rb := &run[a], &run[b]
			return cmp.Or(strings.Compare(ra.SourceID, rb.SourceID), ra.Received.Compare(rb.Received), cmp.Compare(a, b))
		})
		for len(order) > 0 {
			n := min(len(order), per)
			sorted = sorted[:0]
			for _, i := range order[:n] {
				sorted = append(sorted, run[i])
			}
			block, scratch = appendBlock(block[:0], sorted, "", s.compress, scratch)
			if err := write(block); err != nil {
				return err
			}
			order = order[n:]
		}
		run = run[:0]
		return nil
	}
	var spill *os.File
	var spillW *bufio.Writer
	var spilled int64
	var runs [][2]int64 // each run's byte range in spill
	defer func() {
		if spill != nil {
			spill.Close()
		}
	}()
	spillRun := func() error {
		if spill == nil {
			f, err := os.CreateTemp(s.cfg.Dir, ".seal-*")
			if err != nil {
				return err
			}
			os.Remove(f.Name()) // unlinked: a crash leaves nothing behind
			spill, spillW = f, bufio.NewWriterSize(f, 1<<20)
		}
		start := spilled
		err := writeRun(spillBlockRecords, func(b []byte) error {
			spilled += int64(len(b))
			_, err := spillW.Write(b)
			return err
		})
		runs = append(runs, [2]int64{start, spilled})
		return err
	}
	err := scan(func(r *slokeeper.LogRecord) error {
		rt := r.Received.UnixNano()
		if t.records == 0 {
			t.minR, t.maxR = rt, rt
		}
		t.records++
		t.minR, t.maxR = min(t.minR, rt), max(t.maxR, rt)
		run = append(run, *r)
		if len(run) == s.cfg.SealRunRecords {
			return spillRun()
		}
		return nil
	})
	switch {
	case err != nil:
	case spill == nil: // one run: sorted in memory
		err = writeRun(sealedBlockRecords, func(b []byte) error {
			sum.Write(b)
			return emit(b)
		})
	default:
		if len(run) > 0 {
			err = spillRun()
		}
		if err == nil {
			err = spillW.Flush()
		}
		if err == nil {
			run = nil // what the merge holds instead
			err = s.mergeRuns(k, spill, runs, out)
		}
	}
	if err != nil {
		return trailer{}, err
	}
	copy(t.sum[:], sum.Sum(nil))
	return t, nil
}

// spillBlockRecords is the size of a spilled run's blocks: the merge holds
// one decoded block per run.
const spillBlockRecords = 1024

// runCursor is a merge's place in one sorted run.
type runCursor struct {
	br   *blockReader
	recs []slokeeper.LogRecord
	i    int
	run  int
	pos  int // records of the run before recs[i]
}

func (c *runCursor) less(d *runCursor) bool {
	a, b := &c.recs[c.i], &d.recs[d.i]
	return cmp.Or(strings.Compare(a.SourceID, b.SourceID), a.Received.Compare(b.Received), cmp.Compare(c.run, d.run), cmp.Compare(c.pos, d.pos)) < 0
}

// fill decodes the cursor's next block; false at the run's end.
func (s *Store) fillCursor(k partKey, c *runCursor, buf *[]byte) (bool, error) {
	h, payload, err := c.br.next()
	if err == io.EOF {
		return false, nil
	} else if err != nil {
		return false, err
	}
	c.recs, c.i = c.recs[:0], 0
	err = s.decodeBlock(k, h, payload, buf, nil, func(r *slokeeper.LogRecord) error {
		c.recs = append(c.recs, *r)
		return nil
	})
	return len(c.recs) > 0, err
}

// mergeRuns merges the sorted runs in spill into blocks of
// sealedBlockRecords, handed to out in order.
func (s *Store) mergeRuns(k partKey, spill *os.File, runs [][2]int64, out func([]slokeeper.LogRecord) error) error {
	var buf []byte
	var heap []*runCursor // a binary min-heap by less
	up := func(i int) {
		for i > 0 {
			p := (i - 1) / 2
			if !heap[i].less(heap[p]) {
				return
			}
			heap[i], heap[p] = heap[p], heap[i]
			i = p
		}
	}
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(heap) && heap[l].less(heap[m]) {
				m = l
			}
			if l+1 < len(heap) && heap[l+1].less(heap[m]) {
				m = l + 1
			}
			if m == i {
				return
			}
			heap[i], heap[m] = heap[m], heap[i]
			i = m
		}
	}
	for i, r := range runs {
		c := &runCursor{br: newBlockReader(io.NewSectionReader(spill, r[0], r[1]-r[0]), 0), run: i}
		ok, err := s.fillCursor(k, c, &buf)
		if err != nil {
			return err
		}
		if ok {
			heap = append(heap, c)
			up(len(heap) - 1)
		}
	}
	batch := make([]slokeeper.LogRecord, 0, sealedBlockRecords)
	for len(heap) > 0 {
		c := heap[0]
		batch = append(batch, c.recs[c.i])
		c.i++
		c.pos++
		if c.i == len(c.recs) {
			ok, err := s.fillCursor(k, c, &buf)
			if err != nil {
				return err
			}
			if !ok {
				heap[0] = heap[len(heap)-1]
				heap = heap[:len(heap)-1]
			}
		}
		if len(heap) > 0 {
			down(0)
		}
		if len(batch) == sealedBlockRecords {
			if err := out(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return out(batch)
	}
	return nil
}

func appendTrailer(tb []byte, t trailer) []byte {
	tb = append(tb, trailerMagic[:]...)
	tb = binary.LittleEndian.AppendUint64(tb, uint64(t.records))
	tb = binary.LittleEndian.AppendUint64(tb, uint64(t.minR))
	tb = binary.LittleEndian.AppendUint64(tb, uint64(t.maxR))
	return append(tb, t.sum[:]...)
}
