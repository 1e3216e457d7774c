// Command ticker appends a line to a log file shared by the processes of a
// node every interval, and prints it: which process wrote when shows the
// cluster's scheduling, pauses, kills and clock offsets.
//
//	ticker NAME COUNT INTERVAL FILE [fsync]
//
// With fsync, the file and its directory are fsynced after every line, so
// the lines survive a crash of the node.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	sync := len(os.Args) == 6 && os.Args[5] == "fsync"
	if len(os.Args) != 5 && !sync {
		fmt.Fprintln(os.Stderr, "usage: ticker NAME COUNT INTERVAL FILE [fsync]")
		os.Exit(2)
	}
	name := os.Args[1]
	count, _ := strconv.Atoi(os.Args[2])
	every, err := time.ParseDuration(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f, err := os.OpenFile(os.Args[4], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	host, _ := os.Hostname()
	for i := 0; i < count; i++ {
		time.Sleep(every)
		line := fmt.Sprintf("%s@%s %d mono=%d wall=%d\n", name, host, i, time.Since(start).Microseconds(), time.Now().Unix())
		if _, err := f.WriteString(line); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if sync {
			if err := f.Sync(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if d, err := os.Open(filepath.Dir(os.Args[4])); err == nil {
				err = d.Sync()
				d.Close()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
			}
		}
		fmt.Print(line)
	}
}
