package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pgcharm/postgresql/internal/archive/lzop"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// Compression is a compression method by its WAL-G name.
type Compression string

const (
	LZ4  Compression = "lz4"
	ZSTD Compression = "zstd"
	None Compression = "none"
)

// ParseCompression accepts the charm option's values ("" means the default, lz4).
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "lz4":
		return LZ4, nil
	case "zstd", "zst":
		return ZSTD, nil
	case "none", "off", "uncompressed":
		return None, nil
	}
	return "", fmt.Errorf("compression %q: want lz4, zstd or none", s)
}

// Ext is the object name extension WAL-G gives the method, without the dot ("" for none).
func (c Compression) Ext() string {
	switch c {
	case LZ4:
		return "lz4"
	case ZSTD:
		return "zst"
	}
	return ""
}

// AddExt appends the method's extension to an object name.
func (c Compression) AddExt(name string) string {
	if e := c.Ext(); e != "" {
		return name + "." + e
	}
	return name
}

// readExts lists the extensions we can decompress, in the order wal-fetch probes them; "" is
// an uncompressed object and comes last, as in WAL-G. We write only the first two; br and
// lzma are what WAL-G 3 writes with WALG_COMPRESSION_METHOD=brotli|lzma, lzo what WAL-E wrote.
var readExts = []string{"lz4", "zst", "br", "lzma", "lzo", ""}

// knownExts are extensions WAL-G or WAL-E may write; objects with the ones we cannot read are
// recognised (so never mistaken for something else) but reported as unsupported.
var knownExts = map[string]bool{"lz4": true, "zst": true, "br": true, "lzma": true, "lzo": true, "gz": true}

// SplitExt splits an archive object's base name into the file name and compression extension.
func SplitExt(base string) (name, ext string) {
	if i := strings.LastIndexByte(base, '.'); i > 0 && knownExts[base[i+1:]] {
		return base[:i], base[i+1:]
	}
	return base, ""
}

// NewCompressor wraps w so that what is written comes out in WAL-G's framing for c. Close
// flushes the frame but does not close w.
func NewCompressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case LZ4:
		zw := lz4.NewWriter(w)
		// WAL-G uses the library defaults (4 MiB blocks, content checksum); set them explicitly
		// so a library change cannot alter our framing silently.
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(true)); err != nil {
			return nil, fmt.Errorf("lz4 options: %w", err)
		}
		return zw, nil
	case ZSTD:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderCRC(true), zstd.WithWindowSize(8<<20),
			zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd writer: %w", err)
		}
		return zw, nil
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// newWALCompressor is NewCompressor for WAL files: lz4 in 1 MiB blocks instead of 4 MiB, so
// that each upload in flight holds 2 MiB of compressor buffers instead of 8 (a burst uploads
// eight or more at once). Any lz4 frame reader, WAL-G's among them, takes every block size of
// the format; the ratio is the same, matches reaching back only 64 KiB anyway.
func newWALCompressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	if c != LZ4 {
		return NewCompressor(c, w)
	}
	zw := lz4.NewWriter(w)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block1Mb), lz4.ChecksumOption(true)); err != nil {
		return nil, fmt.Errorf("lz4 options: %w", err)
	}
	return zw, nil
}

// backupBlocksInFlight is how many lz4 blocks of one tar part backup-push compresses at once.
// Each stream reads its files in the goroutine that writes the tar, so with the library's
// default of one block the read waited for the compression and the compression for the read,
// and a stream left alone with a large file at the end of a backup (an index: lz4 runs at
// 500 MB/s on btree pages against 2 GB/s on heap pages) used one core. With two, a stream
// hands a full block to a goroutine and reads on, and a lone stream still fills two cores.
const backupBlocksInFlight = 2

// newBackupCompressor is NewCompressor for backup-push's tar parts: lz4 blocks are compressed
// backupBlocksInFlight at a time, and are 1 MiB as for WAL (newWALCompressor) rather than
// 4 MiB, since each block in flight holds its data and its output: with 4 MiB blocks the
// peak RSS of a backup-push of 2 streams went from 130 to 220 MB, with 1 MiB to 156 MB. Blocks
// are written in order; any lz4 frame reader, WAL-G's among them, reads every block size.
func newBackupCompressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	if c != LZ4 {
		return NewCompressor(c, w)
	}
	zw := lz4.NewWriter(w)
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block1Mb), lz4.ChecksumOption(true), lz4.ConcurrencyOption(backupBlocksInFlight)); err != nil {
		return nil, fmt.Errorf("lz4 options: %w", err)
	}
	return zw, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// NewDecompressor reads the object body r compressed as extension ext says. A truncated or
// corrupt frame makes Read fail (both formats carry checksums), never return short data.
func NewDecompressor(ext string, r io.Reader) (io.ReadCloser, error) {
	switch ext {
	case "lz4":
		zr := lz4.NewReader(r)
		return io.NopCloser(zr), nil
	case "zst":
		zr, err := zstd.NewReader(bufio.NewReaderSize(r, 1<<20), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd reader: %w", err)
		}
		return zstdCloser{zr}, nil
	case "br":
		// WAL-G's brotli is a raw brotli stream (cbrotli), which carries no checksum.
		return io.NopCloser(brotli.NewReader(bufio.NewReaderSize(r, 1<<20))), nil
	case "lzma":
		// WAL-G's lzma is the classic .lzma format (ulikunitz/xz/lzma writer).
		zr, err := lzma.NewReader(bufio.NewReaderSize(r, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("lzma reader: %w", err)
		}
		return io.NopCloser(zr), nil
	case "lzo":
		// WAL-E's objects: `lzop -c` output, blocks checked with their Adler-32.
		br := bufio.NewReaderSize(r, 64<<10)
		if head, _ := br.Peek(1); len(head) == 1 && head[0]&0x80 != 0 && head[0] != 0x89 {
			// An OpenPGP packet, not lzop's magic: WAL-E with WALE_GPG_KEY_ID ran gpg after lzop.
			return nil, errors.New("the object is encrypted with gpg (WAL-E's WALE_GPG_KEY_ID); encrypted WAL-E archives are not supported: decrypt them with gpg first")
		}
		zr, err := lzop.NewReader(br)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	case "":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("objects compressed as .%s are not supported (only lz4, zst, br, lzma, lzo and uncompressed)", ext)
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }
