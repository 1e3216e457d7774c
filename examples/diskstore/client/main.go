// Command client drives the diskstore example: `write N` puts N unique
// keys, each to the shard its hash picks, and records every acknowledged
// one in acked.log; `check` reads every acknowledged key back once the
// shards answer again.
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mvrun/multiverse/sdk/assert"
	"github.com/mvrun/multiverse/sdk/random"
)

const ackedFile = "acked.log"

var httpc = &http.Client{Timeout: time.Second}

func main() {
	log.SetFlags(log.Lmicroseconds)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: client idle|write N|check")
		os.Exit(2)
	}
	shards := strings.Split(os.Getenv("DS_SHARDS"), ",")
	switch os.Args[1] {
	case "idle":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
	case "write":
		n := 30
		if len(os.Args) > 2 {
			fmt.Sscan(os.Args[2], &n)
		}
		write(shards, n)
	case "check":
		check(shards)
	default:
		log.Fatalf("client: unknown command %q", os.Args[1])
	}
}

func shardOf(shards []string, key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return shards[h.Sum32()%uint32(len(shards))]
}

func write(shards []string, n int) {
	rng := rand.New(random.Source())
	f, err := os.OpenFile(ackedFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	id, acked := rng.Uint32(), 0
	for i := range n {
		key, val := fmt.Sprintf("k%08x-%d", id, i), fmt.Sprintf("v%d", rng.Uint32())
		resp, err := httpc.PostForm("http://"+shardOf(shards, key)+"/put", url.Values{"key": {key}, "value": {val}})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			f.WriteString(key + " " + val + "\n")
			acked++
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.Printf("write: %d of %d acknowledged", acked, n)
	assert.Sometimes(acked > 0, "writes are acknowledged during faults", map[string]any{"acked": acked})
}

// get reads key, retrying while its shard does not answer (it may be
// restarting).
func get(shards []string, key string) (string, bool, error) {
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := httpc.Get("http://" + shardOf(shards, key) + "/get?key=" + url.QueryEscape(key))
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return string(b), true, nil
		case http.StatusNotFound:
			return "", false, nil
		}
		last = fmt.Errorf("status %s", resp.Status)
	}
	return "", false, last
}

func check(shards []string) {
	f, err := os.Open(ackedFile)
	if err != nil && !os.IsNotExist(err) {
		log.Fatal(err)
	}
	var lost []string
	total := 0
	if f != nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			total++
			got, ok, err := get(shards, k)
			if err != nil {
				log.Fatalf("check: %s: %v", k, err)
			}
			if !ok || got != v {
				lost = append(lost, k)
			}
		}
	}
	log.Printf("check: %d acknowledged, %d lost", total, len(lost))
	assert.Always(len(lost) == 0, "acknowledged writes survive disk faults",
		map[string]any{"acknowledged": total, "lost": len(lost), "first_lost": lost[:min(len(lost), 3)]})
	assert.Reachable("the checker verified acknowledged writes", map[string]any{"acknowledged": total})
}
