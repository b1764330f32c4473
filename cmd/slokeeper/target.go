package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/blob"
	"slokeeper/internal/redact"
)

// targetCheckTimeout bounds the check, at start, that an S3 target answers:
// a healthy one does in milliseconds; one that hangs does not hold the start.
const targetCheckTimeout = 5 * time.Second

// openTargetLenient opens the backup target for work that must go on while
// it is unreachable (serve, lifecycle run): a target that is not there at
// start is warned about, and each lifecycle pass records its failures and
// retries with backoff, while ingestion, the status page and the erasures
// that need no target go on. A target misconfigured (a bad URL, a bucket
// that does not exist) is still refused.
func openTargetLenient(ctx context.Context, cfg Config, logger *slog.Logger) (slokeeper.BlobStore, error) {
	if !strings.HasPrefix(cfg.BackupTarget, "s3://") {
		return openTarget(ctx, cfg)
	}
	opts, err := s3Options(cfg)
	if err != nil {
		return nil, err
	}
	s, err := blob.NewS3(cfg.BackupTarget, opts)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, targetCheckTimeout)
	defer cancel()
	if err := s.Check(cctx); err != nil {
		if code := slokeeper.ErrorCode(err); code == slokeeper.EINVALID || code == slokeeper.ENOTFOUND {
			return nil, err
		}
		logger.Warn("backup target unreachable: the server starts without it; lifecycle passes record the failures and retry", "err", redact.Error(err))
	}
	return s, nil
}
