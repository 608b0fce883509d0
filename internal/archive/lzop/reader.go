package lzop

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/adler32"
	"hash/crc32"
	"io"
)

// magic opens every lzop file.
var magic = []byte{0x89, 'L', 'Z', 'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A}

// Header flags (lzop.c F_*).
const (
	fAdler32D    = 0x00000001
	fAdler32C    = 0x00000002
	fExtraField  = 0x00000040
	fCRC32D      = 0x00000100
	fCRC32C      = 0x00000200
	fMultipart   = 0x00000400
	fFilter      = 0x00000800
	fHeaderCRC32 = 0x00001000
)

// Methods (lzop.c M_*): all three are LZO1X streams.
const (
	mLZO1X1   = 1
	mLZO1X115 = 2
	mLZO1X999 = 3
)

// maxBlock is lzop's own limit on a block's uncompressed size (MAX_BLOCK_SIZE, 64 MiB); the
// default is 256 KiB. It bounds what a corrupt length can make us allocate.
const maxBlock = 64 << 20

// Reader decompresses an lzop stream. Checksums of each block are verified when the file
// carries them (lzop's default: Adler-32 of the uncompressed data), so corruption surfaces as
// an error, never as wrong data. Concatenated lzop files are read one after the other, as
// `lzop -d` does.
type Reader struct {
	r     *bufio.Reader
	flags uint32
	// Name is the file name stored in the header ("" for `lzop -c` of standard input).
	Name string

	buf, cbuf []byte
	out       []byte // undelivered part of the current block
	err       error
}

// NewReader reads and checks the lzop header.
func NewReader(r io.Reader) (*Reader, error) {
	z := &Reader{r: bufio.NewReaderSize(r, 256<<10)}
	if err := z.readHeader(); err != nil {
		return nil, err
	}
	return z, nil
}

// hashingReader feeds what it reads into a checksum.
type hashingReader struct {
	r io.Reader
	h hash.Hash32
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (z *Reader) readHeader() error {
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(z.r, m); err != nil {
		return fmt.Errorf("lzop header: %w", unexpected(err))
	}
	if !bytes.Equal(m, magic) {
		return corrupt("not an lzop file (bad magic)")
	}
	// The header checksum covers everything from the version to the name; its kind is only
	// known once the flags are read, so both are computed.
	ad, cr := adler32.New(), crc32.NewIEEE()
	hr := &hashingReader{r: z.r, h: &multiHash{ad, cr}}
	var fixed struct {
		Version, LibVersion uint16
	}
	if err := binary.Read(hr, binary.BigEndian, &fixed); err != nil {
		return fmt.Errorf("lzop header: %w", unexpected(err))
	}
	if fixed.Version < 0x0900 {
		return corrupt("lzop version %#x is too old", fixed.Version)
	}
	u8 := func() (byte, error) {
		var b [1]byte
		_, err := io.ReadFull(hr, b[:])
		return b[0], unexpected(err)
	}
	u16 := func() (uint16, error) {
		var v uint16
		return v, unexpected(binary.Read(hr, binary.BigEndian, &v))
	}
	u32 := func() (uint32, error) {
		var v uint32
		return v, unexpected(binary.Read(hr, binary.BigEndian, &v))
	}
	if fixed.Version >= 0x0940 {
		need, err := u16()
		if err != nil {
			return fmt.Errorf("lzop header: %w", err)
		}
		if need > 0x1040 {
			return corrupt("the file needs lzop %#x to extract", need)
		}
	}
	method, err := u8()
	if err != nil {
		return fmt.Errorf("lzop header: %w", err)
	}
	switch method {
	case mLZO1X1, mLZO1X115, mLZO1X999:
	default:
		return fmt.Errorf("lzop: compression method %d is not LZO1X (only lzop's default methods 1-3 are supported)", method)
	}
	if fixed.Version >= 0x0940 {
		if _, err := u8(); err != nil { // level
			return fmt.Errorf("lzop header: %w", err)
		}
	}
	if z.flags, err = u32(); err != nil {
		return fmt.Errorf("lzop header: %w", err)
	}
	if z.flags&fFilter != 0 {
		return fmt.Errorf("lzop: files written with a filter (--filter) are not supported")
	}
	if z.flags&fMultipart != 0 {
		return fmt.Errorf("lzop: multipart files are not supported")
	}
	if _, err := u32(); err != nil { // mode
		return fmt.Errorf("lzop header: %w", err)
	}
	if _, err := u32(); err != nil { // mtime low
		return fmt.Errorf("lzop header: %w", err)
	}
	if fixed.Version >= 0x0940 {
		if _, err := u32(); err != nil { // mtime high
			return fmt.Errorf("lzop header: %w", err)
		}
	}
	nameLen, err := u8()
	if err != nil {
		return fmt.Errorf("lzop header: %w", err)
	}
	name := make([]byte, nameLen)
	if _, err := io.ReadFull(hr, name); err != nil {
		return fmt.Errorf("lzop header: %w", unexpected(err))
	}
	z.Name = string(name)
	want := ad.Sum32()
	if z.flags&fHeaderCRC32 != 0 {
		want = cr.Sum32()
	}
	var got uint32
	if err := binary.Read(z.r, binary.BigEndian, &got); err != nil {
		return fmt.Errorf("lzop header: %w", unexpected(err))
	}
	if got != want {
		return corrupt("header checksum %08x, computed %08x", got, want)
	}
	if z.flags&fExtraField != 0 {
		var n uint32
		if err := binary.Read(z.r, binary.BigEndian, &n); err != nil {
			return fmt.Errorf("lzop extra field: %w", unexpected(err))
		}
		if _, err := io.CopyN(io.Discard, z.r, int64(n)+4); err != nil {
			return fmt.Errorf("lzop extra field: %w", unexpected(err))
		}
	}
	return nil
}

// multiHash writes to two checksums at once.
type multiHash struct{ a, b hash.Hash32 }

func (m *multiHash) Write(p []byte) (int, error) { m.a.Write(p); return m.b.Write(p) }
func (m *multiHash) Sum(b []byte) []byte         { return m.a.Sum(b) }
func (m *multiHash) Reset()                      { m.a.Reset(); m.b.Reset() }
func (m *multiHash) Size() int                   { return 4 }
func (m *multiHash) BlockSize() int              { return 1 }
func (m *multiHash) Sum32() uint32               { return m.a.Sum32() }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Read implements io.Reader.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.out) == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.err = z.nextBlock()
	}
	n := copy(p, z.out)
	z.out = z.out[n:]
	return n, nil
}

func (z *Reader) nextBlock() error {
	var dlen uint32
	if err := binary.Read(z.r, binary.BigEndian, &dlen); err != nil {
		return fmt.Errorf("lzop block: %w", unexpected(err))
	}
	if dlen == 0 {
		// End of this file; another may follow (lzop concatenates).
		if _, err := z.r.Peek(1); err == io.EOF {
			return io.EOF
		}
		if err := z.readHeader(); err != nil {
			return err
		}
		return nil
	}
	var clen uint32
	if err := binary.Read(z.r, binary.BigEndian, &clen); err != nil {
		return fmt.Errorf("lzop block: %w", unexpected(err))
	}
	if dlen > maxBlock || clen > maxBlock {
		return corrupt("block of %d bytes (%d compressed) exceeds lzop's 64 MiB limit", dlen, clen)
	}
	if clen > dlen {
		return corrupt("compressed block (%d bytes) larger than its data (%d)", clen, dlen)
	}
	read32 := func() (uint32, error) {
		var v uint32
		return v, unexpected(binary.Read(z.r, binary.BigEndian, &v))
	}
	var dAdler, dCRC, cAdler, cCRC uint32
	var err error
	if z.flags&fAdler32D != 0 {
		if dAdler, err = read32(); err != nil {
			return fmt.Errorf("lzop block: %w", err)
		}
	}
	if z.flags&fCRC32D != 0 {
		if dCRC, err = read32(); err != nil {
			return fmt.Errorf("lzop block: %w", err)
		}
	}
	compressed := clen < dlen
	if compressed && z.flags&fAdler32C != 0 {
		if cAdler, err = read32(); err != nil {
			return fmt.Errorf("lzop block: %w", err)
		}
	}
	if compressed && z.flags&fCRC32C != 0 {
		if cCRC, err = read32(); err != nil {
			return fmt.Errorf("lzop block: %w", err)
		}
	}
	if cap(z.buf) < int(dlen) {
		z.buf = make([]byte, dlen)
	}
	out := z.buf[:dlen]
	if !compressed {
		if _, err := io.ReadFull(z.r, out); err != nil {
			return fmt.Errorf("lzop block: %w", unexpected(err))
		}
	} else {
		if cap(z.cbuf) < int(clen) {
			z.cbuf = make([]byte, clen)
		}
		in := z.cbuf[:clen]
		if _, err := io.ReadFull(z.r, in); err != nil {
			return fmt.Errorf("lzop block: %w", unexpected(err))
		}
		if z.flags&fAdler32C != 0 && adler32.Checksum(in) != cAdler {
			return corrupt("compressed block fails its Adler-32 check")
		}
		if z.flags&fCRC32C != 0 && crc32.ChecksumIEEE(in) != cCRC {
			return corrupt("compressed block fails its CRC-32 check")
		}
		if err := Decompress1X(in, out); err != nil {
			return err
		}
	}
	if z.flags&fAdler32D != 0 && adler32.Checksum(out) != dAdler {
		return corrupt("block fails its Adler-32 check")
	}
	if z.flags&fCRC32D != 0 && crc32.ChecksumIEEE(out) != dCRC {
		return corrupt("block fails its CRC-32 check")
	}
	z.out = out
	return nil
}
