package vfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
)

func TestSeedAndResolve(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a/b/f.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b/f.txt", filepath.Join(dir, "a/link")); err != nil {
		t.Fatal(err)
	}
	f := New(ClockFunc(func() int64 { return 7 }))
	if err := f.SeedFrom(dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		follow bool
		want   string
		err    error
	}{
		{"/a/b/f.txt", true, "hi", nil},
		{"/a/link", true, "hi", nil},
		{"/a/./b/../b/f.txt", true, "hi", nil},
		{"/a/missing", true, "", abi.ENOENT},
		{"/a/b/f.txt/x", true, "", abi.ENOTDIR},
	}
	for _, tc := range tests {
		n, err := f.Lookup(f.Root(), tc.path, tc.follow)
		if err != tc.err {
			t.Errorf("Lookup(%q) error = %v, want %v", tc.path, err, tc.err)
			continue
		}
		if err == nil && string(n.Data) != tc.want {
			t.Errorf("Lookup(%q) = %q, want %q", tc.path, n.Data, tc.want)
		}
	}
	if n, err := f.Lookup(f.Root(), "/a/link", false); err != nil || n.Type() != abi.SIflnk {
		t.Errorf("Lookup(/a/link, nofollow) = %v, %v; want the link", n, err)
	}
}

func TestUnlinkRename(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/x/y")
	if _, err := f.Create(d, "f", 0o644); err != nil {
		t.Fatal(err)
	}
	x, _ := f.Lookup(f.Root(), "/x", true)
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"rmdir non-empty", func() error { return f.Unlink(x, "y", true) }, abi.ENOTEMPTY},
		{"unlink dir", func() error { return f.Unlink(x, "y", false) }, abi.EISDIR},
		{"rename into self", func() error { return f.Rename(f.Root(), "x", d, "z") }, abi.EINVAL},
		{"rename file", func() error { return f.Rename(d, "f", x, "g") }, nil},
		{"unlink moved", func() error { return f.Unlink(x, "g", false) }, nil},
		{"rmdir empty", func() error { return f.Unlink(x, "y", true) }, nil},
		{"unlink missing", func() error { return f.Unlink(x, "y", true) }, abi.ENOENT},
	}
	for _, tc := range tests {
		if err := tc.op(); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
