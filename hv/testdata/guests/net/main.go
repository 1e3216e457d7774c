// Command net exercises sockets through Go's net package and direct
// system calls, one scenario per argument (echo, halfclose, refused,
// backlog, udp, dualstack, unix, sockopt, all), and prints results only
// (no ports, addresses that vary, or timings), so a run under hv can be
// compared line by line with a native run.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

func say(what string, v ...any) { fmt.Println(append([]any{what + ":"}, v...)...) }

func must(err error) {
	if err != nil {
		fmt.Println("fatal:", err)
		os.Exit(1)
	}
}

var scenarios = map[string]func(){
	"echo": echo,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: net scenario...")
		os.Exit(2)
	}
	names := os.Args[1:]
	if len(names) == 1 && names[0] == "all" {
		names = nil
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		f, ok := scenarios[n]
		if !ok {
			fmt.Println("unknown scenario", n)
			os.Exit(2)
		}
		f()
	}
}

// echo runs a TCP echo server over loopback and talks to it: small
// messages, then a transfer larger than the socket buffers.
func echo() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	say("echo local is loopback", c.LocalAddr().(*net.TCPAddr).IP.IsLoopback())
	say("echo remote matches listener", c.RemoteAddr().String() == ln.Addr().String())
	buf := make([]byte, 64)
	for _, m := range []string{"hello", "multiverse", strings.Repeat("x", 40)} {
		_, err := c.Write([]byte(m))
		must(err)
		_, err = io.ReadFull(c, buf[:len(m)])
		must(err)
		say("echo", string(buf[:len(m)]))
	}
	// 1 MiB each way: more than the send and receive buffers hold, so the
	// writer blocks until the echo server reads.
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		errc <- err
	}()
	got := make([]byte, len(big))
	_, err = io.ReadFull(c, got)
	must(err)
	must(<-errc)
	say("echo 1MiB intact", bytes.Equal(got, big))
	must(c.(*net.TCPConn).CloseWrite())
	n, err := c.Read(buf)
	say("echo after CloseWrite", n, err)
	c.Close()
	ln.Close()
	<-done
	_, err = ln.Accept()
	say("accept after close", errors.Is(err, net.ErrClosed))
	_ = time.Second
}
