package vfs

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
)

// content returns the bytes of regular file path, or "<missing>".
func content(t *testing.T, f *FS, path string) string {
	t.Helper()
	n, err := f.Lookup(f.Root(), path, true)
	if err == abi.ENOENT {
		return "<missing>"
	}
	if err != nil {
		t.Fatalf("Lookup(%s): %v", path, err)
	}
	return string(n.Data)
}

// create makes file name in dir holding data, without syncing anything.
func create(t *testing.T, f *FS, dir *Inode, name, data string) *Inode {
	t.Helper()
	n, err := f.Create(dir, name, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(n, []byte(data), 0); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCrashFileData(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/d")
	a := create(t, f, d, "a", "one")
	f.Fsync(a)
	f.Fsync(d)
	if _, err := f.WriteAt(a, []byte("TWO and more"), 0); err != nil {
		t.Fatal(err)
	}
	if got := content(t, f, "/d/a"); got != "TWO and more" {
		t.Fatalf("before crash %q", got)
	}
	f.Crash()
	if got := content(t, f, "/d/a"); got != "one" {
		t.Fatalf("unsynced overwrite survived the crash: %q, want %q", got, "one")
	}
	// A synced write survives; a later unsynced one does not.
	if _, err := f.WriteAt(a, []byte("three"), 0); err != nil {
		t.Fatal(err)
	}
	f.Fsync(a)
	if _, err := f.WriteAt(a, []byte("!"), 5); err != nil {
		t.Fatal(err)
	}
	f.Crash()
	if got := content(t, f, "/d/a"); got != "three" {
		t.Fatalf("after fsync and crash %q, want %q", got, "three")
	}
	if a.Dirty() {
		t.Fatal("file still dirty after the crash")
	}
}

func TestCrashLargeFilePages(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/d")
	orig := bytes.Repeat([]byte("0123456789abcdef"), 3*pageSize/16+10) // 3 pages and a bit
	n := create(t, f, d, "big", string(orig))
	f.Fsync(n)
	f.Fsync(d)
	// Overwrite inside page 1, shrink into page 2, grow past the old end.
	if _, err := f.WriteAt(n, []byte("XXXX"), pageSize+10); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(n, 2*pageSize+7); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(n, []byte("tail"), 5*pageSize); err != nil {
		t.Fatal(err)
	}
	if got := len(n.disk.undo.pages); got != 3 { // pages 1, 2 and 3 changed; 0 did not
		t.Errorf("kept %d pages of durable bytes, want 3", got)
	}
	f.Crash()
	if !bytes.Equal(n.Data, orig) {
		t.Fatalf("after crash: %d bytes, differ from the synced %d bytes", len(n.Data), len(orig))
	}
}

func TestCrashTruncate(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/d")
	n := create(t, f, d, "t", "hello world")
	f.Fsync(n)
	f.Fsync(d)
	if err := f.Truncate(n, 0); err != nil {
		t.Fatal(err)
	}
	f.Crash()
	if got := content(t, f, "/d/t"); got != "hello world" {
		t.Fatalf("unsynced truncate survived: %q", got)
	}
	if err := f.Truncate(n, 5); err != nil {
		t.Fatal(err)
	}
	f.Fsync(n)
	if err := f.Truncate(n, 20); err != nil {
		t.Fatal(err)
	}
	f.Crash()
	if got := content(t, f, "/d/t"); got != "hello" {
		t.Fatalf("synced truncate then unsynced growth: %q, want %q", got, "hello")
	}
}

func TestCrashNamespace(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/d")
	// a: file and directory fsynced; b: file only; c: nothing.
	a := create(t, f, d, "a.txt", "A")
	b := create(t, f, d, "b.txt", "B")
	create(t, f, d, "c.txt", "C")
	f.Fsync(a)
	f.Fsync(b)
	f.Fsync(d)
	b2 := create(t, f, d, "b2.txt", "B2")
	f.Fsync(b2) // fsync of a file does not persist its entry
	create(t, f, d, "c2.txt", "C2")
	f.Crash()
	want := map[string]string{
		"/d/a.txt": "A", "/d/b.txt": "B", "/d/c.txt": "", // c's entry is durable, its bytes are not
		"/d/b2.txt": "<missing>", "/d/c2.txt": "<missing>",
	}
	for p, w := range want {
		if got := content(t, f, p); got != w {
			t.Errorf("%s after crash = %q, want %q", p, got, w)
		}
	}
	// Unlink and mkdir need the directory's fsync too.
	if err := f.Unlink(d, "a.txt", false); err != nil {
		t.Fatal(err)
	}
	sub, err := f.Mkdir(d, "sub", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	create(t, f, sub, "deep", "x")
	f.Fsync(sub) // sub's entry in d is not durable, so nothing under it is
	f.Crash()
	if got := content(t, f, "/d/a.txt"); got != "A" {
		t.Errorf("unsynced unlink survived: /d/a.txt = %q", got)
	}
	if got := content(t, f, "/d/sub/deep"); got != "<missing>" {
		t.Errorf("/d/sub/deep = %q, want it gone with its unsynced parent", got)
	}
	if d.Nlink != 2 {
		t.Errorf("/d has link count %d after the crash, want 2", d.Nlink)
	}
}

func TestCrashRenameAtomic(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	d, _ := f.MkdirAll("/d")
	cur := create(t, f, d, "cur", "old")
	f.Fsync(cur)
	f.Fsync(d)
	// The replace-by-rename pattern: write tmp, fsync it, rename over cur.
	tmp := create(t, f, d, "tmp", "new")
	f.Fsync(tmp)
	if err := f.Rename(d, "tmp", d, "cur"); err != nil {
		t.Fatal(err)
	}
	f.Crash()
	if got, gone := content(t, f, "/d/cur"), content(t, f, "/d/tmp"); got != "old" || gone != "<missing>" {
		t.Fatalf("rename without directory fsync: cur %q tmp %q; want the old state whole", got, gone)
	}
	tmp = create(t, f, d, "tmp", "new")
	f.Fsync(tmp)
	if err := f.Rename(d, "tmp", d, "cur"); err != nil {
		t.Fatal(err)
	}
	f.Fsync(d)
	f.Crash()
	if got, gone := content(t, f, "/d/cur"), content(t, f, "/d/tmp"); got != "new" || gone != "<missing>" {
		t.Fatalf("rename with directory fsync: cur %q tmp %q; want the new state whole", got, gone)
	}
	if n, _ := f.Lookup(f.Root(), "/d/cur", true); n.Nlink != 1 {
		t.Errorf("renamed file has %d links", n.Nlink)
	}
}

func TestCrashRenameAcrossDirs(t *testing.T) {
	setup := func() (*FS, *Inode, *Inode) {
		f := New(ClockFunc(func() int64 { return 0 }))
		a, _ := f.MkdirAll("/a")
		b, _ := f.MkdirAll("/b")
		n := create(t, f, a, "x", "data")
		f.Fsync(n)
		f.Fsync(a)
		if err := f.Rename(a, "x", b, "y"); err != nil {
			t.Fatal(err)
		}
		return f, a, b
	}
	tests := []struct {
		name       string
		sync       func(f *FS, a, b *Inode)
		wantX, wtY string
	}{
		{"neither", func(f *FS, a, b *Inode) {}, "data", "<missing>"},
		{"target only", func(f *FS, a, b *Inode) { f.Fsync(b) }, "data", "data"},
		{"source only", func(f *FS, a, b *Inode) { f.Fsync(a) }, "<missing>", "<missing>"},
		{"both", func(f *FS, a, b *Inode) { f.Fsync(a); f.Fsync(b) }, "<missing>", "data"},
		{"sync", func(f *FS, a, b *Inode) { f.Sync() }, "<missing>", "data"},
	}
	for _, tc := range tests {
		f, a, b := setup()
		tc.sync(f, a, b)
		f.Crash()
		if x, y := content(t, f, "/a/x"), content(t, f, "/b/y"); x != tc.wantX || y != tc.wtY {
			t.Errorf("%s fsynced: /a/x %q /b/y %q, want %q %q", tc.name, x, y, tc.wantX, tc.wtY)
		}
	}
}

func TestCrashDirectoryTwiceKeepsOne(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	a, _ := f.MkdirAll("/a")
	b, _ := f.MkdirAll("/b")
	sub, _ := f.Mkdir(a, "sub", 0o755)
	f.Sync()
	if err := f.Rename(a, "sub", b, "sub"); err != nil {
		t.Fatal(err)
	}
	f.Fsync(b) // /a still durably names sub as well
	f.Crash()
	_, errA := f.Lookup(f.Root(), "/a/sub", true)
	_, errB := f.Lookup(f.Root(), "/b/sub", true)
	if errA != nil || errB != abi.ENOENT {
		t.Fatalf("directory named twice after the crash: /a/sub %v, /b/sub %v; want the first in walk order only", errA, errB)
	}
	if sub.Parent() != a || a.Nlink != 3 || b.Nlink != 2 {
		t.Fatalf("parent %v, link counts /a %d /b %d", sub.Parent() == a, a.Nlink, b.Nlink)
	}
}

func TestCrashLinkExchangeAndSeed(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	if err := f.WriteFile("/seeded", []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := f.Root()
	n, _ := f.Lookup(root, "/seeded", true)
	if err := f.Link(root, "hard", n); err != nil {
		t.Fatal(err)
	}
	if n.Nlink != 2 {
		t.Fatalf("link count %d after link, want 2", n.Nlink)
	}
	f.Crash() // the host's file is durable, the link is not
	if got := content(t, f, "/seeded"); got != "host" {
		t.Fatalf("seeded file after crash: %q", got)
	}
	if got := content(t, f, "/hard"); got != "<missing>" || n.Nlink != 1 {
		t.Fatalf("unsynced link: %q, link count %d", got, n.Nlink)
	}
	create(t, f, root, "other", "O")
	f.Sync()
	if err := f.Exchange(root, "seeded", root, "other"); err != nil {
		t.Fatal(err)
	}
	if got := content(t, f, "/seeded"); got != "O" {
		t.Fatalf("after exchange /seeded = %q", got)
	}
	f.Crash()
	if a, b := content(t, f, "/seeded"), content(t, f, "/other"); a != "host" || b != "O" {
		t.Fatalf("unsynced exchange: %q %q", a, b)
	}
	if err := f.Link(root, "dirlink", root); err != abi.EPERM {
		t.Fatalf("link of a directory: %v, want EPERM", err)
	}
}

// BenchmarkWriteFsync measures a database-like pattern on a 64 MiB file:
// four 4 KiB page writes, then fsync (the durable bytes of each page are
// copied once per sync cycle, not the whole file).
func BenchmarkWriteFsync(b *testing.B) {
	f := New(ClockFunc(func() int64 { return 0 }))
	n, _ := f.Create(f.Root(), "db", 0o644)
	if err := f.Truncate(n, 64<<20); err != nil {
		b.Fatal(err)
	}
	f.Sync()
	page := bytes.Repeat([]byte("p"), pageSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 4; j++ {
			off := int64((i*4+j)*7919%16384) * pageSize
			if _, err := f.WriteAt(n, page, off); err != nil {
				b.Fatal(err)
			}
		}
		f.Fsync(n)
	}
}

// BenchmarkCrash measures Crash after 1,000 unsynced page writes to a 64 MiB
// file and 100 unsynced creates.
func BenchmarkCrash(b *testing.B) {
	f := New(ClockFunc(func() int64 { return 0 }))
	n, _ := f.Create(f.Root(), "db", 0o644)
	if err := f.Truncate(n, 64<<20); err != nil {
		b.Fatal(err)
	}
	f.Sync()
	page := bytes.Repeat([]byte("p"), pageSize)
	for i := 0; i < b.N; i++ {
		for j := 0; j < 1000; j++ {
			if _, err := f.WriteAt(n, page, int64(j*13%16384)*pageSize); err != nil {
				b.Fatal(err)
			}
		}
		for j := 0; j < 100; j++ {
			if _, err := f.Create(f.Root(), "f"+strconv.Itoa(j), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		f.Crash()
	}
}

// TestDropDirtyAndKeepPrefix checks the disk fault helpers: DropDirty
// reverts a file to its last sync at once; KeepPrefix before a crash keeps
// the new bytes below the cut and the synced ones after it.
func TestDropDirtyAndKeepPrefix(t *testing.T) {
	f := New(ClockFunc(func() int64 { return 0 }))
	if err := f.WriteFile("/f", []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := f.Lookup(f.Root(), "/f", true)
	if err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.WriteAt(n, []byte("abcdefghij-tail"), 0)
	if lo, hi := n.DirtyRange(); lo != 0 || hi != 15 {
		t.Fatalf("DirtyRange = %d, %d; want 0, 15", lo, hi)
	}
	f.DropDirty(n)
	if string(n.Data) != "0123456789" || n.Dirty() {
		t.Fatalf("after DropDirty: %q, dirty %v", n.Data, n.Dirty())
	}
	f.WriteAt(n, []byte("abcdefghij-tail"), 0)
	f.KeepPrefix(n, 12)
	f.Crash()
	if got := string(n.Data); got != "abcdefghij-t" {
		t.Fatalf("after a torn crash at 12: %q, want %q", got, "abcdefghij-t")
	}
	f.Sync()
	f.WriteAt(n, []byte("XY"), 3)
	f.KeepPrefix(n, 4)
	f.Crash()
	if got := string(n.Data); got != "abcXefghij-t" {
		t.Fatalf("after a torn overwrite cut at 4: %q", got)
	}
}
