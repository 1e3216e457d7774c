package diskfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mvrun/multiverse/internal/diskmodel"
)

// benchDirs runs fn on a plain directory and on a mount with no fault
// armed, so the difference is the cost of the FUSE layer.
func benchDirs(b *testing.B, fn func(b *testing.B, dir string)) {
	b.Run("plain", func(b *testing.B) { fn(b, b.TempDir()) })
	b.Run("diskfs", func(b *testing.B) {
		if err := Available(); err != nil {
			b.Skipf("skipping: %v", err)
		}
		dir := filepath.Join(b.TempDir(), "data")
		os.Mkdir(dir, 0o755)
		d, err := Mount(Config{Dir: dir, Tag: "bench", OnHit: func(diskmodel.Hit) {}})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Unmount()
		fn(b, dir)
	})
}

// BenchmarkAppendFsync appends a 100-byte record and fsyncs it, as the
// diskstore example's shards do for every put.
func BenchmarkAppendFsync(b *testing.B) {
	benchDirs(b, func(b *testing.B, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "wal"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 100)
		b.ResetTimer()
		for range b.N {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWrite4K writes 4 KiB records without syncing.
func BenchmarkWrite4K(b *testing.B) {
	benchDirs(b, func(b *testing.B, dir string) {
		f, err := os.Create(filepath.Join(dir, "data"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		b.SetBytes(4096)
		b.ResetTimer()
		for i := range b.N {
			if _, err := f.WriteAt(buf, int64(i%1024)*4096); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRead4K reads 4 KiB records of a 4 MiB file.
func BenchmarkRead4K(b *testing.B) {
	benchDirs(b, func(b *testing.B, dir string) {
		p := filepath.Join(dir, "data")
		if err := os.WriteFile(p, make([]byte, 4<<20), 0o644); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		b.SetBytes(4096)
		b.ResetTimer()
		for i := range b.N {
			if _, err := f.ReadAt(buf, int64(i%1024)*4096); err != nil {
				b.Fatal(err)
			}
		}
	})
}
