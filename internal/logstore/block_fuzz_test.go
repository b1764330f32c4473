package logstore

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"slokeeper"

	"github.com/klauspost/compress/zstd"
)

// FuzzBlockReader: whatever a segment or a database row holds, reading its
// blocks never panics, a block that reads is one whose header peekHeader
// agrees on, and its payload decodes or fails cleanly.
func FuzzBlockReader(f *testing.F) {
	dec := verifyDecoder()
	defer dec.Close()
	s := &Store{}
	var err error
	if s.enc, err = newTestEncoder(); err != nil {
		f.Fatal(err)
	}
	recs := []slokeeper.LogRecord{
		{Received: time.Unix(0, 1e18), SourceID: "dev-1", Level: "info", Message: "hello", Attrs: []byte(`{"a":1}`)},
		{Received: time.Unix(0, 1e18+5), SourceID: "dev-2", Message: "フロー"},
	}
	block, _ := appendBlock(nil, recs, "key-1", s.compress, nil)
	f.Add(block)
	f.Add(append(slices.Clone(block), block[:20]...))
	f.Add([]byte("SKB1\x40\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		peekHeader(data)
		br := newBlockReader(bytes.NewReader(data), 0)
		for range 16 {
			h, payload, err := br.next()
			if err == io.EOF || err != nil {
				return
			}
			p, err := peekHeader(br.raw())
			if err != nil || p.records != h.records || p.key != h.key || p.minReceived != h.minReceived || !slices.Equal(p.sources, h.sources) {
				t.Fatalf("peekHeader of a block that reads = %+v, %v; next said %+v", p, err, h)
			}
			if raw, err := dec.DecodeAll(payload, nil); err == nil {
				decodeRaw(raw, h.records, h.minReceived, func(*rawRecord) error { return nil })
			}
		}
	})
}

func newTestEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
}
