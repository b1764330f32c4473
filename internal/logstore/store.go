// Package logstore stores log records on disk, partitioned by (class,
// calendar day of receipt in the policy's time zone): the unit of backup
// and erasure. A partition is a directory. While its day is open it holds
// open.seg, to which group commits append blocks, each fsynced before any
// of its writers is acknowledged. Once the day has closed it is sealed:
// compacted into sealed.seg (blocks grouped by source, so queries for one
// source skip the rest), immutable, with a SHA-256 checksum and record
// count recorded in the database catalog.
//
// Layout: DIR/<class>/<YYYY-MM-DD>/{open.seg | sealed.seg}.
//
// With Config.Blocks (a database shared by several nodes, PostgreSQL) the
// same blocks live there instead (shared.go): an append is acknowledged
// once the database committed it, and every node reads every record.
package logstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"slokeeper"

	"github.com/klauspost/compress/zstd"
)

// Config configures a Store.
type Config struct {
	// Dir holds the partitions. Required unless Blocks is set; with
	// Blocks, a writer locks Dir/logstore.lock (none when Dir is "") and
	// imports stage their stream there (default: the system's temporary
	// directory).
	Dir string
	// Catalog records partitions in the database. Required unless Blocks
	// is set.
	Catalog slokeeper.LogCatalog
	// Blocks, when set, is where the partitions live instead of Dir: a
	// database every node shares. Default: nil, local files.
	Blocks slokeeper.LogBlockStore
	// Node names this node in the blocks it writes to Blocks. Default: "".
	Node string
	// CommitTimeout bounds one group commit to Blocks; past it the appends
	// fail as unavailable. Default: 30s.
	CommitTimeout time.Duration
	// Location is the time zone whose calendar days partition the logs.
	// Default: UTC.
	Location *time.Location
	// Clock stamps records with their receive time. Default: system clock.
	Clock slokeeper.Clock
	// SealDelay is how long after its day closes a partition is sealed,
	// so that writes already under way land first. Default: 10m.
	SealDelay time.Duration
	// SealRunRecords bounds the records sealing holds in memory at once:
	// each run of this many is sorted by source, spilled to a temporary
	// file in Dir, and the runs merged. Default: 131072.
	SealRunRecords int
	// MaxCommitBytes bounds what one group commit writes to one partition,
	// and so one append. A crash can only damage the last, unacknowledged
	// commit, so on recovery an invalid block within this distance of the
	// end is a torn tail, cut; one further back is corruption, refused.
	// Default: 32 MiB.
	MaxCommitBytes int
	// SealEvery is how often the store looks for partitions due to seal.
	// Default: 1m. Whether one is due is judged by Clock.
	SealEvery time.Duration
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// WriteAt writes an append's block to a partition's open segment: the
	// file layer, replaceable so that tests can fail it as a full disk
	// does (ENOSPC, after a partial write). Default: f.WriteAt.
	WriteAt func(f *os.File, b []byte, off int64) (int, error)
}

// Store is an open log store.
type Store struct {
	cfg Config
	enc *zstd.Encoder
	dec *zstd.Decoder

	mu    sync.Mutex
	parts map[partKey]*partition
	keys  map[string]partKey // idempotency keys of open partitions, and where they are

	readOnly bool
	lock     *os.File // the writer's exclusive lock on Dir

	reqs       chan *request
	closing    chan struct{}
	done       chan struct{}
	sealerDone chan struct{}
	close      sync.Once
}

// sharedLockName is the writer's lock file in Dir on the shared backend.
const sharedLockName = "logstore.lock"

// errReadOnly is returned by AppendLogs on a store opened read-only.
var errReadOnly = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The log store is open read-only.")

type partKey struct{ class, day string }

func (k partKey) String() string { return k.class + "/" + k.day }

// partition is one (class, day). mu guards everything below it.
type partition struct {
	key partKey
	dir string

	mu       sync.RWMutex
	f        *os.File // open.seg while open
	size     int64    // durable length of open.seg
	sealed   bool
	sealing  bool
	records  int64
	bytes    int64
	minR     int64
	maxR     int64
	checksum string
	sealedAt time.Time
}

func (p *partition) info() *slokeeper.LogPartition {
	lp := &slokeeper.LogPartition{Class: p.key.class, Day: p.key.day, Records: p.records, Bytes: p.bytes,
		Sealed: p.sealed, Checksum: p.checksum, SealedAt: p.sealedAt}
	if p.records > 0 {
		lp.MinReceived, lp.MaxReceived = time.Unix(0, p.minR).UTC(), time.Unix(0, p.maxR).UTC()
	}
	return lp
}

func (p *partition) account(records int64, bytes int64, minR, maxR int64) {
	if p.records == 0 {
		p.minR, p.maxR = minR, maxR
	}
	p.minR, p.maxR = min(p.minR, minR), max(p.maxR, maxR)
	p.records += records
	p.bytes += bytes
}

// Open opens the store in cfg.Dir for writing, recovering from whatever a
// crash left: torn tails of open partitions are cut, half-done seals and
// drops are finished or rolled back, and the catalog is brought up to date.
// One process at a time may have a store open for writing: Open takes an
// exclusive lock on the directory and fails if another holds it.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, false)
}

// OpenReadOnly opens the store for queries and exports beside a process
// that writes it (a server): it changes nothing on disk or in the catalog,
// and reads open partitions up to their last complete block.
func OpenReadOnly(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, true)
}

func open(ctx context.Context, cfg Config, readOnly bool) (*Store, error) {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.SealDelay <= 0 {
		cfg.SealDelay = 10 * time.Minute
	}
	if cfg.SealRunRecords <= 0 {
		cfg.SealRunRecords = 131072
	}
	if cfg.SealEvery <= 0 {
		cfg.SealEvery = time.Minute
	}
	if cfg.MaxCommitBytes <= 0 {
		cfg.MaxCommitBytes = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WriteAt == nil {
		cfg.WriteAt = (*os.File).WriteAt
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxPayloadLen*8))
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg, enc: enc, dec: dec,
		parts: map[partKey]*partition{}, keys: map[string]partKey{},
		readOnly: readOnly,
		reqs:     make(chan *request, 1024), closing: make(chan struct{}), done: make(chan struct{}), sealerDone: make(chan struct{}),
	}
	if cfg.Blocks != nil && !readOnly && cfg.Dir != "" {
		// The database's transactions are the recovery and its locks keep
		// nodes apart; this lock only says a writer (a server) runs on
		// this data directory, as the file store's does, so that
		// administration commands beside it ask it rather than compete.
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("log store: %w", err)
		}
		if s.lock, err = lockFile(filepath.Join(cfg.Dir, sharedLockName), cfg.Dir); err != nil {
			return nil, err
		}
	} else if cfg.Blocks == nil && !readOnly {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("log store: %w", err)
		}
		if s.lock, err = lockDir(cfg.Dir); err != nil {
			return nil, err
		}
	}
	if cfg.Blocks != nil {
		// nothing to recover
	} else if err := s.recover(ctx); err != nil {
		s.closeFiles()
		return nil, err
	}
	if readOnly {
		close(s.done)
		close(s.sealerDone)
		return s, nil
	}
	go s.run()
	go s.sealer()
	return s, nil
}

// sealer seals partitions as they fall due, until Close.
func (s *Store) sealer() {
	defer close(s.sealerDone)
	t := time.NewTicker(s.cfg.SealEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			if sealed, err := s.SealDue(ctx); err != nil {
				s.cfg.Logger.Error("log store: seal", "err", err)
			} else {
				for _, p := range sealed {
					s.cfg.Logger.Info("log store: sealed partition", "class", p.Class, "day", p.Day, "records", p.Records, "bytes", p.Bytes)
				}
			}
			cancel()
		}
	}
}

// ReadOnly reports whether the store was opened read-only: another
// process (a server) holds the writer's lock, and seals.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close stops accepting appends, finishes the ones queued, records the open
// partitions' counts in the catalog and closes the files.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		close(s.closing)
		<-s.done
		<-s.sealerDone
		if s.readOnly || s.cfg.Blocks != nil {
			s.closeFiles()
			s.enc.Close()
			s.dec.Close()
			if s.lock != nil {
				s.lock.Close()
			}
			return
		}
		s.mu.Lock()
		parts := make([]*partition, 0, len(s.parts))
		for _, p := range s.parts {
			parts = append(parts, p)
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range parts {
			p.mu.RLock()
			info := p.info()
			p.mu.RUnlock()
			err = errors.Join(err, s.cfg.Catalog.UpsertLogPartition(ctx, info))
		}
		s.closeFiles()
		s.enc.Close()
		s.dec.Close()
		s.lock.Close() // releases the lock
	})
	return err
}

func (s *Store) closeFiles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		if p.f != nil {
			p.f.Close()
			p.f = nil
		}
	}
}

func (s *Store) dayOf(t time.Time) string { return t.In(s.cfg.Location).Format(time.DateOnly) }

func (s *Store) partDir(k partKey) string { return filepath.Join(s.cfg.Dir, k.class, k.day) }

// syncDir makes a directory's entries (created, renamed, removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
