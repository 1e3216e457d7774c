package vfs

import (
	"testing"

	"github.com/mvrun/multiverse/hv/abi"
)

// twoNodes returns two node trees that mount one volume at /data, and the
// volume.
func twoNodes(t *testing.T) (a, b, v *FS) {
	t.Helper()
	now := ClockFunc(func() int64 { return 0 })
	a, b, v = New(now), New(now), NewVolume(now, 0x900)
	for _, f := range []*FS{a, b} {
		if _, err := f.MkdirAll("/data"); err != nil {
			t.Fatal(err)
		}
		if err := f.Mount("/data", v, v.Root(), false); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, v
}

func mustLookup(t *testing.T, f *FS, p string) *Inode {
	t.Helper()
	n, err := f.Lookup(f.Root(), p, true)
	if err != nil {
		t.Fatalf("lookup %s: %v", p, err)
	}
	return n
}

// put creates file name in /data through f and writes s into it.
func put(t *testing.T, f *FS, name, s string) *Inode {
	t.Helper()
	d := mustLookup(t, f, "/data")
	n := d.Child(name)
	if n == nil {
		var err error
		if n, err = f.Create(d, name, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(n, []byte(s), 0); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVolumeShared(t *testing.T) {
	a, b, v := twoNodes(t)
	put(t, a, "x", "from a")
	n := mustLookup(t, b, "/data/x")
	if string(n.Data) != "from a" {
		t.Fatalf("b reads %q", n.Data)
	}
	if n.Device() == a.Root().Device() || n.Device() != 0x900 {
		t.Errorf("volume file st_dev %#x, root %#x", n.Device(), a.Root().Device())
	}
	// ".." leaves the volume for the mount point's parent.
	if up := mustLookup(t, b, "/data/.."); up != b.Root() {
		t.Errorf("/data/.. is not the root")
	}
	if b.Mounted(b.Root().Child("data")) != v.Root() || b.Mounted(n) != n {
		t.Errorf("Mounted does not show the volume at its mount point")
	}
	if p := b.Path(v.Root()); p != "/data" {
		t.Errorf("Path of the volume root: %q", p)
	}
	if err := a.Rename(mustLookup(t, a, "/data"), "x", a.Root(), "x"); err != abi.EXDEV {
		t.Errorf("rename out of a volume: %v, want EXDEV", err)
	}
	if err := a.Unlink(a.Root(), "data", true); err != abi.EBUSY {
		t.Errorf("rmdir of a mount point: %v, want EBUSY", err)
	}
}

func TestVolumeCrashPerWriter(t *testing.T) {
	a, b, _ := twoNodes(t)
	put(t, b, "kept", "b synced")
	b.Sync()
	put(t, a, "lost", "a unsynced")
	bn := put(t, b, "pending", "b unsynced")
	_ = bn
	a.Crash()
	if n, err := b.Lookup(b.Root(), "/data/lost", true); err == nil {
		t.Errorf("a's unsynced file survived a's crash: %q", n.Data)
	}
	for p, want := range map[string]string{"/data/kept": "b synced", "/data/pending": "b unsynced"} {
		if n := mustLookup(t, b, p); string(n.Data) != want {
			t.Errorf("%s after a's crash: %q, want %q", p, n.Data, want)
		}
	}
	// b's unsynced file goes with b's crash; its synced one stays, with
	// its synced bytes.
	put(t, b, "kept", "b rewrote")
	b.Crash()
	if _, err := a.Lookup(a.Root(), "/data/pending", true); err != abi.ENOENT {
		t.Errorf("b's unsynced file after b's crash: %v", err)
	}
	if n := mustLookup(t, a, "/data/kept"); string(n.Data) != "b synced" {
		t.Errorf("kept after b's crash: %q", n.Data)
	}
	// fsync by a reader makes a writer's bytes durable for everyone.
	put(t, a, "kept", "a wrote!")
	b.Fsync(mustLookup(t, b, "/data/kept"))
	a.Crash()
	if n := mustLookup(t, b, "/data/kept"); string(n.Data) != "a wrote!" {
		t.Errorf("kept after b's fsync and a's crash: %q", n.Data)
	}
}

func TestMountReadOnly(t *testing.T) {
	now := ClockFunc(func() int64 { return 0 })
	w, r, v := New(now), New(now), NewVolume(now, 0x901)
	for _, c := range []struct {
		f  *FS
		ro bool
	}{{w, false}, {r, true}} {
		if _, err := c.f.MkdirAll("/v"); err != nil {
			t.Fatal(err)
		}
		if err := c.f.Mount("/v", v, v.Root(), c.ro); err != nil {
			t.Fatal(err)
		}
	}
	d := mustLookup(t, w, "/v")
	n, err := w.Create(d, "f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ReadOnly(n) || w.ReadOnly(n) {
		t.Errorf("ReadOnly: reader %v, writer %v", r.ReadOnly(n), w.ReadOnly(n))
	}
	if _, err := r.WriteAt(n, []byte("x"), 0); err != abi.EROFS {
		t.Errorf("write through a read-only mount: %v", err)
	}
	if _, err := r.Create(d, "g", 0o644); err != abi.EROFS {
		t.Errorf("create through a read-only mount: %v", err)
	}
	if err := r.Unlink(d, "f", false); err != abi.EROFS {
		t.Errorf("unlink through a read-only mount: %v", err)
	}
	// A read-only root keeps its writable mounts writable.
	w.SetReadOnly(true)
	if _, err := w.Create(w.Root(), "probe", 0o644); err != abi.EROFS {
		t.Errorf("create in a read-only root: %v", err)
	}
	if _, err := w.Create(d, "g", 0o644); err != nil {
		t.Errorf("create in a writable mount of a read-only root: %v", err)
	}
	if _, err := w.MkdirAll("/host/made"); err != nil {
		t.Errorf("host-side MkdirAll in a read-only root: %v", err)
	}
}

func TestTmpfsCrash(t *testing.T) {
	now := ClockFunc(func() int64 { return 0 })
	f, tmp := New(now), NewTmpfs(now, 0x902)
	if _, err := f.MkdirAll("/tmp"); err != nil {
		t.Fatal(err)
	}
	if err := f.Mount("/tmp", tmp, tmp.Root(), false); err != nil {
		t.Fatal(err)
	}
	d := mustLookup(t, f, "/tmp")
	n, err := f.Create(d, "f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Fsync(n)
	f.Sync()
	f.Crash()
	if _, err := f.Lookup(f.Root(), "/tmp/f", true); err != abi.ENOENT {
		t.Errorf("tmpfs file after the crash: %v", err)
	}
	if mustLookup(t, f, "/tmp") != tmp.Root() {
		t.Errorf("the tmpfs is no longer mounted")
	}
}

func TestMountFile(t *testing.T) {
	now := ClockFunc(func() int64 { return 0 })
	f, v := New(now), NewVolume(now, 0x903)
	if err := v.WriteFile("/config.txt", []byte("mode=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.MkdirAll("/etc"); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("/etc/config.txt", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Mount("/etc/config.txt", v, v.Root().Child("config.txt"), true); err != nil {
		t.Fatal(err)
	}
	n := mustLookup(t, f, "/etc/config.txt")
	if string(n.Data) != "mode=x\n" || !f.ReadOnly(n) {
		t.Errorf("mounted file holds %q, read-only %v", n.Data, f.ReadOnly(n))
	}
}
