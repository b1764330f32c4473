package logstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"slokeeper"
)

// A block is the unit of durability and of the index: a header saying what
// it holds (record count, received-time range, sources, an idempotency key)
// and a zstd-compressed payload of records.
//
//	magic "SKB1" | header length u32 | header | header CRC-32C u32 | payload
//
// header: payload length u32, payload CRC-32C u32, records u32,
// min and max received (Unix ns, i64), flags u8, idempotency key (uvarint
// length + bytes), source count (uvarint) and sources (uvarint length +
// bytes each). A block with more than maxBlockSources distinct sources sets
// flagManySources and lists none: queries cannot skip it by source.
var blockMagic = [4]byte{'S', 'K', 'B', '1'}

const (
	maxBlockSources = 64
	flagManySources = 1
	maxHeaderLen    = 1 << 20
	maxPayloadLen   = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// blockHeader is a block's index entry.
type blockHeader struct {
	payloadLen  uint32
	payloadCRC  uint32
	records     uint32
	minReceived int64
	maxReceived int64
	flags       uint8
	key         string
	sources     []string
}

// mayHold reports whether the block may hold records matching q.
func (h *blockHeader) mayHold(q *slokeeper.LogQuery) bool {
	if !q.From.IsZero() && h.maxReceived < q.From.UnixNano() {
		return false
	}
	if !q.To.IsZero() && h.minReceived >= q.To.UnixNano() {
		return false
	}
	if q.SourceID != "" && h.flags&flagManySources == 0 && !slices.Contains(h.sources, q.SourceID) {
		return false
	}
	return true
}

// encodeRecords appends the binary form of recs to buf: per record, the
// received time as nanoseconds after minReceived, then the sender time and
// the text fields. zstd does the rest.
func encodeRecords(buf []byte, recs []slokeeper.LogRecord, minReceived int64) []byte {
	for i := range recs {
		r := &recs[i]
		buf = binary.AppendUvarint(buf, uint64(r.Received.UnixNano()-minReceived))
		var sender int64
		if !r.SenderTime.IsZero() {
			sender = r.SenderTime.UnixNano()
		}
		buf = binary.AppendVarint(buf, sender)
		for _, s := range [...]string{r.Account, r.SourceKind, r.SourceID, r.Level, r.Message, string(r.Attrs), r.SenderTimeRaw} {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
	}
	return buf
}

var errCorrupt = errors.New("corrupt block")

// rawRecord is a record as it lies in a decompressed payload: its text
// fields still slices of the payload, so that filtering allocates nothing.
type rawRecord struct {
	received int64
	sender   int64
	// account, source kind, source ID, level, message, attrs, raw sender time
	fields [7][]byte
}

func (rr *rawRecord) record(class string) slokeeper.LogRecord {
	f := &rr.fields
	r := slokeeper.LogRecord{
		Received: time.Unix(0, rr.received).UTC(), Class: class,
		Account: string(f[0]), SourceKind: string(f[1]), SourceID: string(f[2]), Level: string(f[3]), Message: string(f[4]),
		SenderTimeRaw: string(f[6]),
	}
	if len(f[5]) > 0 {
		r.Attrs = append([]byte(nil), f[5]...)
	}
	if rr.sender != 0 {
		r.SenderTime = time.Unix(0, rr.sender).UTC()
	}
	return r
}

// decodeRaw calls fn for each record in a decompressed payload. The
// rawRecord is reused: fn must copy what it keeps.
func decodeRaw(payload []byte, n uint32, minReceived int64, fn func(*rawRecord) error) error {
	var rr rawRecord
	for range n {
		off, k := binary.Uvarint(payload)
		if k <= 0 {
			return errCorrupt
		}
		payload = payload[k:]
		sender, k := binary.Varint(payload)
		if k <= 0 {
			return errCorrupt
		}
		payload = payload[k:]
		for i := range rr.fields {
			l, k := binary.Uvarint(payload)
			if k <= 0 || uint64(len(payload)-k) < l {
				return errCorrupt
			}
			rr.fields[i] = payload[k : k+int(l)]
			payload = payload[k+int(l):]
		}
		rr.received, rr.sender = minReceived+int64(off), sender
		if err := fn(&rr); err != nil {
			return err
		}
	}
	if len(payload) != 0 {
		return errCorrupt
	}
	return nil
}

// appendBlock appends a whole block holding recs (all of one partition) to
// dst: the header, then payload compressed by compress.
func appendBlock(dst []byte, recs []slokeeper.LogRecord, key string, compress func(dst, src []byte) []byte, scratch []byte) ([]byte, []byte) {
	h := blockHeader{records: uint32(len(recs)), key: key, minReceived: recs[0].Received.UnixNano(), maxReceived: recs[0].Received.UnixNano()}
	for i := range recs {
		t := recs[i].Received.UnixNano()
		h.minReceived, h.maxReceived = min(h.minReceived, t), max(h.maxReceived, t)
		if h.flags&flagManySources == 0 && !slices.Contains(h.sources, recs[i].SourceID) {
			if len(h.sources) == maxBlockSources {
				h.flags |= flagManySources
				h.sources = nil
			} else {
				h.sources = append(h.sources, recs[i].SourceID)
			}
		}
	}
	scratch = encodeRecords(scratch[:0], recs, h.minReceived)
	start := len(dst)
	dst = append(dst, blockMagic[:]...)
	dst = append(dst, 0, 0, 0, 0) // header length, filled in below
	hstart := len(dst)
	dst = append(dst, make([]byte, 8)...) // payload length and CRC, filled in below
	dst = binary.LittleEndian.AppendUint32(dst, h.records)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.minReceived))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.maxReceived))
	dst = append(dst, h.flags)
	dst = binary.AppendUvarint(dst, uint64(len(h.key)))
	dst = append(dst, h.key...)
	dst = binary.AppendUvarint(dst, uint64(len(h.sources)))
	for _, s := range h.sources {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	hend := len(dst)
	dst = append(dst, 0, 0, 0, 0) // header CRC, filled in below
	pstart := len(dst)
	dst = compress(dst, scratch)
	payload := dst[pstart:]
	binary.LittleEndian.PutUint32(dst[hstart:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[hstart+4:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(dst[start+4:], uint32(hend-hstart))
	binary.LittleEndian.PutUint32(dst[hend:], crc32.Checksum(dst[hstart:hend], castagnoli))
	return dst, scratch
}

// blockReader reads blocks one by one from a segment.
type blockReader struct {
	r   *bufio.Reader
	off int64  // offset of the next block
	buf []byte // the last block read, whole
}

func newBlockReader(r io.Reader, off int64) *blockReader {
	return &blockReader{r: bufio.NewReaderSize(r, 256<<10), off: off}
}

// errTorn means the segment ends inside a block: a write that was never
// acknowledged.
var errTorn = errors.New("torn block")

// next reads the next block's header and raw payload. It returns io.EOF at
// a clean end, errTorn when the data ends inside a block, and errCorrupt
// when a whole block does not check out. The payload, and the whole block
// (raw), stay valid until the next call.
func (br *blockReader) next() (*blockHeader, []byte, error) {
	var fixed [8]byte
	if n, err := io.ReadFull(br.r, fixed[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, nil, io.EOF
		}
		return nil, nil, errTorn
	}
	if [4]byte(fixed[:4]) != blockMagic {
		return nil, nil, fmt.Errorf("%w: bad magic at offset %d", errCorrupt, br.off)
	}
	hlen := binary.LittleEndian.Uint32(fixed[4:])
	if hlen < 29 || hlen > maxHeaderLen {
		return nil, nil, fmt.Errorf("%w: header length %d at offset %d", errCorrupt, hlen, br.off)
	}
	buf := append(br.buf[:0], fixed[:]...)
	buf = slices.Grow(buf, int(hlen)+4)[:8+hlen+4]
	hdr := buf[8:]
	if _, err := io.ReadFull(br.r, hdr); err != nil {
		return nil, nil, errTorn
	}
	if crc32.Checksum(hdr[:hlen], castagnoli) != binary.LittleEndian.Uint32(hdr[hlen:]) {
		return nil, nil, fmt.Errorf("%w: header checksum at offset %d", errCorrupt, br.off)
	}
	h, err := parseHeader(hdr[:hlen])
	if err != nil {
		return nil, nil, fmt.Errorf("%w at offset %d", err, br.off)
	}
	start := len(buf)
	buf = slices.Grow(buf, int(h.payloadLen))[:start+int(h.payloadLen)]
	br.buf = buf
	payload := buf[start:]
	if _, err := io.ReadFull(br.r, payload); err != nil {
		return nil, nil, errTorn
	}
	if crc32.Checksum(payload, castagnoli) != h.payloadCRC {
		return nil, nil, fmt.Errorf("%w: payload checksum at offset %d", errCorrupt, br.off)
	}
	br.off += int64(len(buf))
	return h, payload, nil
}

// raw is the whole of the last block next returned.
func (br *blockReader) raw() []byte { return br.buf }

// peekHeader parses the header of a whole block made by appendBlock.
func peekHeader(block []byte) (*blockHeader, error) {
	if len(block) < 8 || [4]byte(block[:4]) != blockMagic {
		return nil, errCorrupt
	}
	hlen := binary.LittleEndian.Uint32(block[4:])
	if hlen < 29 || uint64(len(block)) < 8+uint64(hlen) {
		return nil, errCorrupt
	}
	return parseHeader(block[8 : 8+hlen])
}

func parseHeader(b []byte) (*blockHeader, error) {
	h := &blockHeader{
		payloadLen:  binary.LittleEndian.Uint32(b[0:]),
		payloadCRC:  binary.LittleEndian.Uint32(b[4:]),
		records:     binary.LittleEndian.Uint32(b[8:]),
		minReceived: int64(binary.LittleEndian.Uint64(b[12:])),
		maxReceived: int64(binary.LittleEndian.Uint64(b[20:])),
		flags:       b[28],
	}
	if h.payloadLen > maxPayloadLen {
		return nil, errCorrupt
	}
	b = b[29:]
	str := func() (string, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return "", false
		}
		s := string(b[k : k+int(l)])
		b = b[k+int(l):]
		return s, true
	}
	var ok bool
	if h.key, ok = str(); !ok {
		return nil, errCorrupt
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxBlockSources {
		return nil, errCorrupt
	}
	b = b[k:]
	for range n {
		s, ok := str()
		if !ok {
			return nil, errCorrupt
		}
		h.sources = append(h.sources, s)
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return h, nil
}
