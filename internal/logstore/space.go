package logstore

import (
	"fmt"

	"slokeeper"
)

// DefaultMinFreeSpace is the free space the store's disk needs for the
// node to call itself ready.
const DefaultMinFreeSpace = 256 << 20

// CheckSpace reports, as an EUNAVAILABLE error saying how much is left,
// whether the disk holding the store has less than min bytes free: a
// node about to fill its disk should not be sent more logs.
//
// On the shared backend (Config.Blocks) no record lands on this node's
// disk, so the check does not apply and CheckSpace returns nil: readiness
// is then the database's (the caller checks it too).
func (s *Store) CheckSpace(min uint64) error {
	if s.cfg.Blocks != nil {
		return nil
	}
	free, err := freeSpace(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("free space of %s: %w", s.cfg.Dir, err)
	}
	if free < min {
		return slokeeper.Errorf(slokeeper.EUNAVAILABLE, "Not ready: the log store's disk has %d MiB free, under the minimum of %d MiB (min_free_space).", free>>20, min>>20)
	}
	return nil
}
