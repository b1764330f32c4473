package logstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"slokeeper"
)

// lockDir takes an exclusive, non-blocking lock on dir/LOCK: one writer
// per store. The kernel drops it when the process dies, so a crash never
// leaves a stale lock.
func lockDir(dir string) (*os.File, error) {
	return lockFile(filepath.Join(dir, "LOCK"), dir)
}

// lockFile takes the lock on path, for the store in dir.
func lockFile(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, slokeeper.Errorf(slokeeper.ECONFLICT, "Another slokeeper process is writing the log store in %s; administration commands read it without writing.", dir)
		}
		return nil, fmt.Errorf("log store lock: %w", err)
	}
	return f, nil
}
