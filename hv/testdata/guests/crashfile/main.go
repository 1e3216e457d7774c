// Command crashfile shows the disk's crash model through the kernel.
// `crashfile write DIR` creates files under DIR with different sync
// histories; `crashfile read DIR` prints what each holds. Natively (no
// crash in between) read sees everything write did; under hv with the
// node's file system crashed in between (vfs.FS.Crash) it sees only what
// was made durable: see the table in main.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The files write creates, in the order read reports them, with what each
// tests:
//
//	a.txt      written, fsynced, directory fsynced       → survives
//	b.txt      created after the directory fsync, fsynced → gone (no dir fsync)
//	c.txt      created after the directory fsync          → gone
//	cur2.txt   durable "v1", tmp2.txt renamed over it without a dir fsync → "v1"
//	d.txt      durable "delta", overwritten without fsync → "delta"
//	e.txt      durable and empty, then written through O_SYNC → "echo"
//	m.txt      durable "map0", stored through MAP_SHARED, msync(MS_SYNC) → "MAP1"
//	r/cur.txt  durable "v1", r/tmp.txt renamed over it, r fsynced → "v2"
//	t.txt      durable "truncate me", truncated without fsync → "truncate me"
//	tmp2.txt   renamed away → gone either way
var files = []string{"a.txt", "b.txt", "c.txt", "cur2.txt", "d.txt", "e.txt", "m.txt", "r/cur.txt", "r/tmp.txt", "t.txt", "tmp2.txt"}

func must(err error) {
	if err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

// fsyncPath opens path (a file or directory) and fsyncs it.
func fsyncPath(path string) {
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	must(err)
	must(unix.Fsync(fd))
	must(unix.Close(fd))
}

// put creates or replaces path with data and fsyncs the file only.
func put(path, data string, sync bool) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	must(err)
	_, err = f.WriteString(data)
	must(err)
	if sync {
		must(f.Sync())
	}
	must(f.Close())
}

func write(dir string) {
	must(os.MkdirAll(filepath.Join(dir, "r"), 0o755))
	fsyncPath(filepath.Dir(dir)) // DIR's own entry
	// Phase 1: everything durable, entries included.
	put(filepath.Join(dir, "a.txt"), "alpha", true)
	put(filepath.Join(dir, "cur2.txt"), "v1", true)
	put(filepath.Join(dir, "d.txt"), "delta", true)
	put(filepath.Join(dir, "e.txt"), "", true)
	put(filepath.Join(dir, "m.txt"), "map0", true)
	put(filepath.Join(dir, "r", "cur.txt"), "v1", true)
	put(filepath.Join(dir, "t.txt"), "truncate me", true)
	fsyncPath(filepath.Join(dir, "r"))
	fsyncPath(dir)
	fmt.Println("phase 1 durable")

	// Phase 2: no fsync of DIR from here on.
	put(filepath.Join(dir, "b.txt"), "bravo", true)
	put(filepath.Join(dir, "c.txt"), "charlie", false)
	put(filepath.Join(dir, "tmp2.txt"), "v2", true)
	must(os.Rename(filepath.Join(dir, "tmp2.txt"), filepath.Join(dir, "cur2.txt")))
	f, err := os.OpenFile(filepath.Join(dir, "d.txt"), os.O_WRONLY, 0)
	must(err)
	_, err = f.WriteAt([]byte("DELTA2"), 0)
	must(err)
	must(f.Close())
	f, err = os.OpenFile(filepath.Join(dir, "e.txt"), os.O_WRONLY|os.O_SYNC, 0)
	must(err)
	_, err = f.WriteString("echo")
	must(err)
	must(f.Close())
	fd, err := unix.Open(filepath.Join(dir, "m.txt"), unix.O_RDWR, 0)
	must(err)
	m, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(err)
	copy(m, "MAP1")
	must(unix.Msync(m, unix.MS_SYNC))
	must(unix.Munmap(m))
	must(unix.Close(fd))
	put(filepath.Join(dir, "r", "tmp.txt"), "v2", true)
	must(os.Rename(filepath.Join(dir, "r", "tmp.txt"), filepath.Join(dir, "r", "cur.txt")))
	fsyncPath(filepath.Join(dir, "r"))
	must(os.Truncate(filepath.Join(dir, "t.txt"), 0))
	fmt.Println("phase 2 written")
}

func read(dir string) {
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case os.IsNotExist(err):
			fmt.Printf("%s: missing\n", name)
		case err != nil:
			fmt.Printf("%s: %v\n", name, err)
		default:
			fmt.Printf("%s: %q\n", name, b)
		}
	}
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "write" && os.Args[1] != "read") {
		fmt.Println("usage: crashfile write|read DIR")
		os.Exit(2)
	}
	if os.Args[1] == "write" {
		write(os.Args[2])
		return
	}
	read(os.Args[2])
}
