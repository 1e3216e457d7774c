// Command httpkv is a two-node test program: an HTTP key-value server, and
// a client that writes and reads keys on it once per interval and prints
// each outcome (an error is printed by kind, not by its text, so output is
// comparable across runs).
//
//	httpkv server ADDR
//	httpkv client URL COUNT INTERVAL TIMEOUT
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: httpkv server ADDR | httpkv client URL COUNT INTERVAL TIMEOUT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2])
	case "client":
		if len(os.Args) != 6 {
			fmt.Fprintln(os.Stderr, "usage: httpkv client URL COUNT INTERVAL TIMEOUT")
			os.Exit(2)
		}
		count, _ := strconv.Atoi(os.Args[3])
		every, err1 := time.ParseDuration(os.Args[4])
		timeout, err2 := time.ParseDuration(os.Args[5])
		if err := errors.Join(err1, err2); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		client(os.Args[2], count, every, timeout)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func serve(addr string) {
	var mu sync.Mutex
	kv := map[string]string{}
	host, _ := os.Hostname()
	http.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		kv[r.URL.Query().Get("k")] = r.URL.Query().Get("v")
		n := len(kv)
		mu.Unlock()
		fmt.Fprintf(w, "stored on %s, %d keys", host, n)
	})
	http.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v, ok := kv[r.URL.Query().Get("k")]
		mu.Unlock()
		if !ok {
			http.Error(w, "missing", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, v)
	})
	fmt.Println("listening on", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// kind names an error the way a service reacts to it.
func kind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error: " + err.Error()
}

func client(url string, count int, every, timeout time.Duration) {
	c := &http.Client{Timeout: timeout}
	get := func(path string) (string, error) {
		resp, err := c.Get(url + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b), err
	}
	start := time.Now()
	for i := 0; i < count; i++ {
		at := time.Since(start).Truncate(100 * time.Millisecond)
		put, err := get(fmt.Sprintf("/put?k=k%d&v=v%d", i, i))
		if err != nil {
			fmt.Printf("%d at %v: put %s\n", i, at, kind(err))
		} else {
			got, err := get(fmt.Sprintf("/get?k=k%d", i))
			if err != nil {
				got = kind(err)
			}
			fmt.Printf("%d at %v: put %q get %q\n", i, at, put, got)
		}
		time.Sleep(every)
	}
}
