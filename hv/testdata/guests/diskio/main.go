// Command diskio writes, fsyncs and reads one file and prints what every
// call returned, so a test can compare what the program saw with the disk
// faults that were injected.
//
//	diskio write FILE ROUNDS   append ROUNDS records, fsync every third,
//	                           overwrite the first in place, read back
//	diskio dump FILE           print the file's size and records
//
// Output lines (offsets and lengths in bytes, latencies in µs of the
// monotonic clock, printed only above 1ms):
//
//	w OFF LEN ERR [slow US]    a write of LEN bytes at OFF
//	s OFF ERR [slow US]        an fsync (OFF: size when called)
//	dropped SIZE OK|BAD        after a failed fsync and its retry: does the file hold
//	                           exactly what the last successful fsync made
//	                           durable?
//	r OFF N ERR [bad B1,B2..] [slow US]   a read of N bytes at OFF, with
//	                           the offsets of bytes that differ from what
//	                           the program wrote
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const recLen = 100

func record(i int) []byte {
	r := fmt.Appendf(nil, "record %04d ", i)
	for len(r) < recLen-1 {
		r = append(r, byte('a'+(i+len(r))%26))
	}
	return append(r, '\n')
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.EIO:
			return "EIO"
		case syscall.ENOSPC:
			return "ENOSPC"
		}
		return en.Error()
	}
	if err == io.EOF {
		return "ok"
	}
	return err.Error()
}

// timed runs fn and returns " slow US" if it took over a millisecond.
func timed(fn func()) string {
	t0 := time.Now()
	fn()
	if d := time.Since(t0); d > time.Millisecond {
		return " slow " + strconv.FormatInt(d.Microseconds(), 10)
	}
	return ""
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: diskio write FILE ROUNDS | diskio dump FILE")
		os.Exit(2)
	}
	path := os.Args[2]
	if os.Args[1] == "dump" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Println("dump", errName(err))
			return
		}
		fmt.Println("size", len(b))
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l != "" {
				fmt.Printf("%q\n", l)
			}
		}
		return
	}
	rounds, _ := strconv.Atoi(os.Args[3])
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The file's directory entry must be durable too.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	var want, synced []byte // what the file should hold; what was last fsynced
	for i := range rounds {
		rec := record(i)
		off := int64(len(want))
		var n int
		slow := timed(func() { n, err = f.WriteAt(rec, off) })
		fmt.Printf("w %d %d %s%s\n", off, len(rec), errName(err), slow)
		want = append(want, rec[:n]...)
		if len(want) >= recLen {
			// An overwrite of bytes the file has: a full disk allows it.
			slow = timed(func() { _, err = f.WriteAt(want[:recLen], 0) })
			fmt.Printf("w 0 %d %s%s\n", recLen, errName(err), slow)
		}
		if i%3 == 2 {
			slow = timed(func() { err = f.Sync() })
			fmt.Printf("s %d %s%s\n", len(want), errName(err), slow)
			if err == nil {
				synced = bytes.Clone(want)
			} else {
				// Retry, as most programs do; since Linux 4.13 it succeeds
				// with the data still lost.
				slow = timed(func() { err = f.Sync() })
				fmt.Printf("s %d %s%s\n", len(want), errName(err), slow)
				got, _ := os.ReadFile(path)
				ok := "BAD"
				if bytes.Equal(got, synced) {
					ok = "OK"
				}
				fmt.Printf("dropped %d %s\n", len(got), ok)
				want = bytes.Clone(got)
			}
		}
		buf := make([]byte, len(want)+10)
		slow = timed(func() { n, err = f.ReadAt(buf, 0) })
		var bad []string
		for j := 0; j < n && j < len(want); j++ {
			if buf[j] != want[j] {
				bad = append(bad, strconv.Itoa(j))
			}
		}
		line := fmt.Sprintf("r 0 %d %s", n, errName(err))
		if len(bad) > 0 {
			line += " bad " + strings.Join(bad, ",")
		}
		fmt.Println(line + slow)
	}
}
