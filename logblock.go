package slokeeper

import "context"

// LogBlock is one encoded block of log records (the log store's SKB1
// block, opaque here) on its way to, or in, a LogBlockStore, with the
// index fields a store keeps beside it.
type LogBlock struct {
	Class, Day  string
	Data        []byte
	Records     int64
	MinReceived int64    // Unix ns
	MaxReceived int64    // Unix ns
	Sources     []string // the block's sources; nil when it has too many to list
	Key         string   // idempotency key; "" for none

	// Set by AppendLogBlocks for each block: Duplicate when a block with
	// the same (Class, Day, Key) was already stored; Err when this block's
	// partition refused it (sealed) while others were stored.
	Duplicate bool
	Err       error
}

// LogBlockFilter says which blocks a scan may skip. Zero fields do not
// filter.
type LogBlockFilter struct {
	SourceID string // blocks that may hold this source (or many sources)
	From, To int64  // Unix ns: blocks that may hold records received in [From, To)
	Sealed   bool   // only the sealed blocks (an export)
}

// LogPartitionState is a partition as a LogBlockStore knows it: the
// catalog row, with Records, Bytes and the received range summed over every
// node's blocks while it is open, and the records in open blocks of a day
// already sealed (a migration's leftovers, due to be re-sealed).
type LogPartitionState struct {
	LogPartition
	Pending int64
}

// LogSealTx is a seal under way: it holds the partition exclusively.
type LogSealTx interface {
	// Blocks calls fn with every block of the partition, sealed ones
	// first, then open ones, each in the order stored. fn may call Put.
	Blocks(ctx context.Context, fn func(data []byte) error) error
	// Put adds a block to the partition's new sealed set, in order.
	Put(ctx context.Context, b *LogBlock) error
}

// LogBlockStore keeps the log store's blocks in a database shared by every
// node, so that every node's queries see every record and a partition is
// one thing for the cluster. Transient failures (the database unreachable)
// are EUNAVAILABLE.
type LogBlockStore interface {
	// AppendLogBlocks stores blocks of open partitions in one transaction,
	// returning only after it committed. A block whose partition is sealed
	// gets Err and is not stored; one whose key is stored gets Duplicate.
	AppendLogBlocks(ctx context.Context, node string, blocks []*LogBlock) error
	// ScanLogBlocks calls fn for the partition's blocks that f does not
	// rule out: sealed ones first, then open ones, each in the order stored.
	ScanLogBlocks(ctx context.Context, class, day string, f LogBlockFilter, fn func(data []byte) error) error
	// SealLogPartition replaces the partition's blocks by the sealed set
	// seal puts, and records the partition seal returns in the catalog, in
	// one transaction. When the partition is already sealed and has no
	// open blocks, it returns the catalog's partition without calling seal.
	SealLogPartition(ctx context.Context, class, day string, seal func(LogSealTx) (*LogPartition, error)) (*LogPartition, error)
	// ImportLogPartition adds a sealed partition (p as the catalog row, its
	// blocks from put), ECONFLICT when the partition exists.
	ImportLogPartition(ctx context.Context, p *LogPartition, blocks func(put func(*LogBlock) error) error) error
	// MigrateLogBlocks adds blocks of one local partition, identified by
	// id, to the open blocks of its day (sealed or not) in one transaction,
	// once: it reports done without storing anything when id was migrated
	// before. Blocks whose key is stored are skipped.
	MigrateLogBlocks(ctx context.Context, node, id string, blocks []*LogBlock) (done bool, err error)
	// DropLogPartition erases a partition, blocks and catalog row, in one
	// transaction; ENOTFOUND if there is none.
	DropLogPartition(ctx context.Context, class, day string) error
	// LogPartitionStates lists the partitions by class, then day.
	LogPartitionStates(ctx context.Context) ([]*LogPartitionState, error)
}
