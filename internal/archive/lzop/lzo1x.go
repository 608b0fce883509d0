// Package lzop reads lzop files: the container WAL-E wrote every base backup part and WAL
// segment in (`lzop -c`), holding LZO1X blocks. Only decompression is needed (the charm never
// writes WAL-E's layout), and no well-kept pure-Go LZO decompressor is served by the module
// proxy (the cgo binding WAL-G uses is not allowed here), so both are written from the formats:
// lzop's file header and block framing (lzop 1.04, lzop.c) and LZO1X's instruction stream
// (LZO 2.10, lzo1x_d.ch; also described in the Linux kernel's Documentation/staging/lzo.rst).
package lzop

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error about malformed input.
var ErrCorrupt = errors.New("lzop: corrupt input")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// Decompress1X decodes one LZO1X block (any compression level: LZO1X-1 and LZO1X-999 write
// the same instruction stream) into dst, which must be exactly the block's uncompressed size.
// Every read and every back-reference is bounds-checked: corrupt input returns an error,
// never a panic or a short block.
func Decompress1X(src, dst []byte) error {
	var (
		ip, op int
		t      int
	)
	in := func() (int, error) {
		if ip >= len(src) {
			return 0, corrupt("input overrun at byte %d", ip)
		}
		b := int(src[ip])
		ip++
		return b, nil
	}
	// extend reads a run length continued in zero bytes (each adds 255) and a final byte.
	extend := func(base int) (int, error) {
		n := 0
		for {
			b, err := in()
			if err != nil {
				return 0, err
			}
			if b != 0 {
				if n > len(dst) {
					return 0, corrupt("length overflow")
				}
				return n + base + b, nil
			}
			n += 255
			if n > len(dst)+255 {
				return 0, corrupt("length overflow")
			}
		}
	}
	literals := func(n int) error {
		if ip+n > len(src) {
			return corrupt("literal run of %d overruns the input at byte %d", n, ip)
		}
		if op+n > len(dst) {
			return corrupt("literal run of %d overruns the output at byte %d", n, op)
		}
		copy(dst[op:], src[ip:ip+n])
		ip += n
		op += n
		return nil
	}
	// match copies n bytes from dist back; the regions may overlap (run-length repeats).
	match := func(dist, n int) error {
		if dist <= 0 || dist > op {
			return corrupt("match distance %d at output byte %d", dist, op)
		}
		if op+n > len(dst) {
			return corrupt("match of %d overruns the output at byte %d", n, op)
		}
		from := op - dist
		if dist >= n {
			copy(dst[op:op+n], dst[from:from+n])
			op += n
			return nil
		}
		for i := 0; i < n; i++ {
			dst[op] = dst[from+i]
			op++
		}
		return nil
	}
	// state after an instruction: how many literals (0-3) follow, from the low bits of the
	// instruction's second-to-last byte.
	trailing := func() int { return int(src[ip-2]) & 3 }

	const (
		stLoop = iota
		stFirstLiteralRun
		stMatch
		stMatchNext
	)
	state := stLoop
	if len(src) == 0 {
		return corrupt("empty block")
	}
	if src[0] > 17 {
		ip = 1
		t = int(src[0]) - 17
		if t < 4 {
			state = stMatchNext
		} else {
			if err := literals(t); err != nil {
				return err
			}
			state = stFirstLiteralRun
		}
	}
	var err error
	for {
		switch state {
		case stLoop:
			if t, err = in(); err != nil {
				return err
			}
			if t >= 16 {
				state = stMatch
				continue
			}
			if t == 0 {
				if t, err = extend(15); err != nil {
					return err
				}
			}
			if err := literals(t + 3); err != nil {
				return err
			}
			state = stFirstLiteralRun
		case stFirstLiteralRun:
			if t, err = in(); err != nil {
				return err
			}
			if t >= 16 {
				state = stMatch
				continue
			}
			b, err := in()
			if err != nil {
				return err
			}
			if err := match(1+0x800+(t>>2)+(b<<2), 3); err != nil {
				return err
			}
			if t = trailing(); t == 0 {
				state = stLoop
			} else {
				state = stMatchNext
			}
		case stMatch:
			var dist, n int
			switch {
			case t >= 64: // M2: 3-8 bytes, distance up to 2 KiB
				b, err := in()
				if err != nil {
					return err
				}
				dist = 1 + ((t >> 2) & 7) + (b << 3)
				n = (t >> 5) + 1
			case t >= 32: // M3: distance up to 16 KiB
				n = t & 31
				if n == 0 {
					if n, err = extend(31); err != nil {
						return err
					}
				}
				n += 2
				if ip+2 > len(src) {
					return corrupt("input overrun at byte %d", ip)
				}
				dist = 1 + (int(src[ip]) >> 2) + (int(src[ip+1]) << 6)
				ip += 2
			case t >= 16: // M4: distance 16-48 KiB, or the end of the stream
				high := (t & 8) << 11
				n = t & 7
				if n == 0 {
					if n, err = extend(7); err != nil {
						return err
					}
				}
				n += 2
				if ip+2 > len(src) {
					return corrupt("input overrun at byte %d", ip)
				}
				dist = high + (int(src[ip]) >> 2) + (int(src[ip+1]) << 6)
				ip += 2
				if dist == 0 {
					if n != 3 {
						return corrupt("bad end-of-stream marker")
					}
					if op != len(dst) {
						return corrupt("stream ended after %d of %d bytes", op, len(dst))
					}
					if ip != len(src) {
						return corrupt("%d bytes after the end of the stream", len(src)-ip)
					}
					return nil
				}
				dist += 0x4000
			default: // M1 after a match: 2 bytes, distance up to 1 KiB
				b, err := in()
				if err != nil {
					return err
				}
				dist = 1 + (t >> 2) + (b << 2)
				n = 2
			}
			if err := match(dist, n); err != nil {
				return err
			}
			if t = trailing(); t == 0 {
				state = stLoop
			} else {
				state = stMatchNext
			}
		case stMatchNext:
			if err := literals(t); err != nil {
				return err
			}
			if t, err = in(); err != nil {
				return err
			}
			state = stMatch
		}
	}
}
