// Command files exercises the file system calls: create, write, read,
// seek, rename, readdir, truncate, remove, pipes and dup.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

func check(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func main() {
	dir, err := os.MkdirTemp("", "hvfiles")
	check(err)
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "a.txt")
	check(os.WriteFile(p, []byte("hello, file\n"), 0o644))
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	check(err)
	_, err = f.WriteString("second line\n")
	check(err)
	_, err = f.Seek(7, io.SeekStart)
	check(err)
	b := make([]byte, 4)
	_, err = io.ReadFull(f, b)
	check(err)
	fmt.Printf("read %q\n", b)
	_, err = f.WriteAt([]byte("X"), 0)
	fmt.Println("writeat on append file fails:", err != nil)
	st, err := f.Stat()
	check(err)
	fmt.Println("size", st.Size(), "mode", st.Mode())
	check(f.Truncate(5))
	check(f.Sync())
	check(f.Close())
	data, err := os.ReadFile(p)
	check(err)
	fmt.Printf("after truncate %q\n", data)
	check(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	check(os.Rename(p, filepath.Join(dir, "sub", "b.txt")))
	for i := 0; i < 3; i++ {
		check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), nil, 0o600))
	}
	ents, err := os.ReadDir(dir)
	check(err)
	var names []string
	for _, e := range ents {
		names = append(names, fmt.Sprintf("%s:%v", e.Name(), e.IsDir()))
	}
	sort.Strings(names)
	fmt.Println(names)
	_, err = os.Stat(p)
	fmt.Println("old name gone:", os.IsNotExist(err))
	fmt.Println("remove non-empty dir fails:", os.Remove(filepath.Join(dir, "sub")) != nil)
	r, w, err := os.Pipe()
	check(err)
	go func() {
		fmt.Fprint(w, "through the pipe")
		w.Close()
	}()
	all, err := io.ReadAll(r)
	check(err)
	fmt.Printf("pipe %q\n", all)
	_, err = os.Open(filepath.Join(dir, "missing"))
	fmt.Println("missing:", os.IsNotExist(err))
}
