// Package blob is slokeeper's backup targets: a local directory (the
// default, inside the data directory) and any S3-compatible object store
// (MinIO, Ceph, R2, AWS), behind one interface.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"slokeeper"
)

// Dir is a backup target in a local directory. Keys are slash-separated
// paths below it.
type Dir struct {
	root string
}

var _ slokeeper.BlobStore = (*Dir)(nil)

// OpenDir opens (creating, 0700) a directory target.
func OpenDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	return &Dir{root: root}, nil
}

// CheckKey refuses keys that could leave the target or that object stores
// treat differently: empty, absolute, with "." or ".." segments, or
// backslashes.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return slokeeper.Errorf(slokeeper.EINVALID, "Object key %q is not a relative slash-separated path.", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasSuffix(seg, ".tmp") {
			return slokeeper.Errorf(slokeeper.EINVALID, "Object key %q has an empty, \".\", \"..\" or temporary segment.", key)
		}
	}
	return nil
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put writes the object to a temporary file, syncs it, and renames it into
// place: a crash leaves either the old object or the new one.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (slokeeper.BlobInfo, error) {
	if err := CheckKey(key); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".*.tmp")
	if err != nil {
		return slokeeper.BlobInfo{}, err
	}
	tmp := f.Name()
	fail := func(err error) (slokeeper.BlobInfo, error) {
		f.Close()
		os.Remove(tmp)
		return slokeeper.BlobInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return slokeeper.BlobInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return slokeeper.BlobInfo{}, err
	}
	return slokeeper.BlobInfo{Key: key, Size: n, Modified: fi.ModTime()}, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func notFound(key string) error {
	return slokeeper.Errorf(slokeeper.ENOTFOUND, "No object %q in the backup target.", key)
}

// Get opens an object.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(key)
	}
	return f, err
}

// Stat describes an object.
func (d *Dir) Stat(ctx context.Context, key string) (slokeeper.BlobInfo, error) {
	if err := CheckKey(key); err != nil {
		return slokeeper.BlobInfo{}, err
	}
	fi, err := os.Stat(d.path(key))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return slokeeper.BlobInfo{}, notFound(key)
	} else if err != nil {
		return slokeeper.BlobInfo{}, err
	}
	return slokeeper.BlobInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// List returns the objects under prefix, by key; temporary files of Puts
// under way are not objects.
func (d *Dir) List(ctx context.Context, prefix string) ([]slokeeper.BlobInfo, error) {
	var out []slokeeper.BlobInfo
	err := filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.HasSuffix(path, ".tmp") {
			return err
		}
		rel, _ := filepath.Rel(d.root, path)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, slokeeper.BlobInfo{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	slices.SortFunc(out, func(a, b slokeeper.BlobInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}

// Delete removes an object.
func (d *Dir) Delete(ctx context.Context, key string) error {
	_, err := d.Purge(ctx, key)
	return err
}

// Purge removes an object: a directory keeps no versions.
func (d *Dir) Purge(ctx context.Context, key string) (slokeeper.BlobPurge, error) {
	if err := CheckKey(key); err != nil {
		return slokeeper.BlobPurge{}, err
	}
	var p slokeeper.BlobPurge
	err := os.Remove(d.path(key))
	if err == nil {
		p.Deleted = 1
	} else if !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	return p, syncDir(filepath.Dir(d.path(key)))
}

// Protection reports that a directory keeps nothing it deletes.
func (d *Dir) Protection(ctx context.Context) (slokeeper.BlobProtection, error) {
	return slokeeper.BlobProtection{}, nil
}

// RemoveLeftovers removes the temporary files of Puts that never renamed
// them into place (the process died), if last modified before before. A
// Put under way keeps its file's modification time current as it writes.
func (d *Dir) RemoveLeftovers(ctx context.Context, before time.Time) ([]slokeeper.BlobInfo, error) {
	var out []slokeeper.BlobInfo
	err := filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if e.IsDir() || !strings.HasSuffix(path, ".tmp") {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed into place, or removed, meanwhile
		} else if err != nil {
			return err
		}
		if !fi.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.root, path)
		out = append(out, slokeeper.BlobInfo{Key: filepath.ToSlash(rel), Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	slices.SortFunc(out, func(a, b slokeeper.BlobInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}
