// Command netbench makes N request/response round trips of 64 bytes over a
// loopback TCP connection (its argument, default 1000) and prints how many
// it completed, for measuring the cost of a round trip under hv.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	n := 1000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Println("usage: netbench [round trips]")
			os.Exit(2)
		}
		n = v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				c.Close()
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	msg, buf := make([]byte, 64), make([]byte, 64)
	done := 0
	for ; done < n; done++ {
		if _, err := c.Write(msg); err != nil {
			break
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			break
		}
	}
	c.Close()
	fmt.Println("round trips:", done)
}
