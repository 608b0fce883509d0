package lzop

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// samples are inputs with the shapes LZO1X must handle: long literal runs, every match kind
// (short and long distances, overlapping run-length repeats), and blocks lzop stores raw.
func samples(t *testing.T) map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 700<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("PostgreSQL WAL segment 000000010000000000000002 redo record; "), 20000)
	mixed := make([]byte, 0, 3<<20)
	for len(mixed) < 3<<20 {
		switch rng.IntN(5) {
		case 0:
			mixed = append(mixed, random[:rng.IntN(5000)]...)
		case 1:
			mixed = append(mixed, bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(70000))...)
		case 2:
			if len(mixed) > 0 {
				from := rng.IntN(len(mixed))
				n := min(rng.IntN(300)+3, len(mixed)-from)
				mixed = append(mixed, mixed[from:from+n]...)
			}
		case 3:
			mixed = append(mixed, text[:rng.IntN(9000)]...)
		default:
			page := make([]byte, 8192)
			for i := 0; i < len(page); i += rng.IntN(64) + 1 {
				page[i] = byte(rng.IntN(4))
			}
			mixed = append(mixed, page...)
		}
	}
	out := map[string][]byte{
		"empty": {}, "one": {'x'}, "tiny": []byte("abc"), "random": random, "text": text, "mixed": mixed,
		"zeros": make([]byte, 16<<20), // a recycled WAL segment's tail
	}
	// A real WAL segment and a real tar of a data directory when the machine has them.
	if segs, _ := filepath.Glob("/var/lib/postgresql/*/main/pg_wal/0000000*"); len(segs) > 0 {
		if b, err := os.ReadFile(segs[0]); err == nil {
			out["wal"] = b
		}
	}
	if b, err := exec.Command("tar", "-cf", "-", "-C", "/usr/share/postgresql", ".").Output(); err == nil && len(b) > 0 {
		out["tar"] = b[:min(len(b), 24<<20)]
	}
	return out
}

func lzopBinary(t *testing.T) string {
	p, err := exec.LookPath("lzop")
	if err != nil {
		if testing.Short() {
			t.Skip("lzop is not installed (tests/setup/postgres.sh installs it); -short skips the comparison with the real tool")
		}
		t.Fatal("lzop is not installed: tests/setup/postgres.sh installs it (Debian package lzop)")
	}
	return p
}

// TestAgainstRealLzop compresses each sample with the real lzop binary, with the option sets
// WAL-E and people use (WAL-E ran plain `lzop -c`), and decompresses with ours.
func TestAgainstRealLzop(t *testing.T) {
	bin := lzopBinary(t)
	opts := map[string][]string{
		"default":     {"-c"},
		"fast":        {"-c", "-1"},
		"best":        {"-c", "-9"}, // LZO1X-999
		"crc32":       {"-c", "--crc32"},
		"no-checksum": {"-c", "-F"},
		"with-name":   nil, // compressed from a file, so the header carries its name
	}
	dir := t.TempDir()
	for name, data := range samples(t) {
		for oname, args := range opts {
			t.Run(name+"/"+oname, func(t *testing.T) {
				var compressed []byte
				if args == nil {
					f := filepath.Join(dir, name)
					if err := os.WriteFile(f, data, 0o600); err != nil {
						t.Fatal(err)
					}
					if out, err := exec.Command(bin, "-f", "-o", f+".lzo", f).CombinedOutput(); err != nil {
						t.Fatalf("lzop: %v: %s", err, out)
					}
					compressed, _ = os.ReadFile(f + ".lzo")
				} else {
					cmd := exec.Command(bin, args...)
					cmd.Stdin = bytes.NewReader(data)
					out, err := cmd.Output()
					if err != nil {
						t.Fatalf("lzop %v: %v", args, err)
					}
					compressed = out
				}
				z, err := NewReader(bytes.NewReader(compressed))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(z)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("decompressed %d bytes differ from the %d compressed", len(got), len(data))
				}
				if args == nil && z.Name != name {
					t.Errorf("header name %q, want %q", z.Name, name)
				}
			})
		}
	}
}

// TestCorruption flips bytes and truncates: every damage must be an error, never a panic or
// silently wrong data.
func TestCorruption(t *testing.T) {
	bin := lzopBinary(t)
	data := samples(t)["mixed"][:1<<20]
	for _, args := range [][]string{{"-c"}, {"-c", "-F"}} {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(data)
		good, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < 300; i++ {
			bad := bytes.Clone(good)
			switch i % 3 {
			case 0:
				bad = bad[:rng.IntN(len(bad))]
			default:
				p := rng.IntN(len(bad))
				bad[p] ^= byte(1 + rng.IntN(255))
			}
			z, err := NewReader(bytes.NewReader(bad))
			if err != nil {
				continue
			}
			got, err := io.ReadAll(z)
			if err == nil && !bytes.Equal(got, data) {
				if args[len(args)-1] == "-F" {
					continue // without checksums a flipped literal byte cannot be noticed
				}
				t.Fatalf("%v damage %d: no error, %d bytes of wrong data", args, i, len(got))
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%v damage %d: error %v is neither ErrCorrupt nor unexpected EOF", args, i, err)
			}
		}
	}
}

// TestConcatenated reads two lzop files back to back, as `lzop -d` does.
func TestConcatenated(t *testing.T) {
	bin := lzopBinary(t)
	var all []byte
	var want []byte
	for _, s := range []string{"first part ", "second part"} {
		cmd := exec.Command(bin, "-c")
		cmd.Stdin = bytes.NewReader([]byte(s))
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out...)
		want = append(want, s...)
	}
	z, err := NewReader(bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(z)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestDecompress1XHandMade checks instruction kinds on tiny hand-assembled streams.
func TestDecompress1XHandMade(t *testing.T) {
	// First byte 17+3: three literals, then M4 end marker 0x11 0x00 0x00.
	src := []byte{20, 'a', 'b', 'c', 0x11, 0, 0}
	dst := make([]byte, 3)
	if err := Decompress1X(src, dst); err != nil || string(dst) != "abc" {
		t.Fatalf("%q %v", dst, err)
	}
	// Wrong output size is an error.
	if err := Decompress1X(src, make([]byte, 4)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short stream: %v", err)
	}
	// A match reaching before the start of the output.
	if err := Decompress1X([]byte{20, 'a', 'b', 'c', 0xFF, 0xFF, 0x11, 0, 0}, make([]byte, 20)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad distance: %v", err)
	}
}
