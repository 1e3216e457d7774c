// Command client is the workload of the rejoin example: `client load N`
// fills the store with N keys before the faults, `client write N` makes N
// writes of fresh keys to whichever replica is primary, 10 ms apart, and
// both record each acknowledged write; `client check` reads every
// acknowledged key back from the primary once the faults are over.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
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

// ackedFile records acknowledged writes, "key value" per line, in the
// client service's working directory, where the check finds them.
const ackedFile = "acked.log"

var httpc = &http.Client{Timeout: 500 * time.Millisecond}

func main() {
	log.SetFlags(log.Lmicroseconds)
	nodes := strings.Split(os.Getenv("RJ_NODES"), ",")
	if len(os.Args) < 2 || nodes[0] == "" {
		log.Fatal("usage: RJ_NODES=a:p,b:p client idle|load N|write N|check")
	}
	switch os.Args[1] {
	case "idle":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
	case "load", "write":
		n := 20
		if len(os.Args) > 2 {
			if _, err := fmt.Sscan(os.Args[2], &n); err != nil {
				log.Fatalf("client: count %q: %v", os.Args[2], err)
			}
		}
		// The load fills the store at full speed; the workload spaces its
		// writes like a stream of independent users: 10 ms apart on
		// average, at random.
		pace := 10 * time.Millisecond
		if os.Args[1] == "load" {
			pace = 0
		}
		write(nodes, n, pace)
	case "check":
		check(nodes)
	default:
		log.Fatalf("client: unknown command %q", os.Args[1])
	}
}

type role struct {
	Primary bool `json:"primary"`
	Epoch   int  `json:"epoch"`
}

// primary returns the replica that says it is primary with the highest
// epoch, or "".
func primary(nodes []string) string {
	best, epoch := "", -1
	for _, n := range nodes {
		resp, err := httpc.Get("http://" + n + "/role")
		if err != nil {
			continue
		}
		var r role
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err == nil && r.Primary && r.Epoch > epoch {
			best, epoch = n, r.Epoch
		}
	}
	return best
}

// write makes n writes, each of a fresh random key (so keys spread over
// the key space, as user ids or hashes do), waiting between two a time
// drawn uniformly from [0, 2·pace): users do not arrive on a clock.
func write(nodes []string, n int, pace time.Duration) {
	f, err := os.OpenFile(ackedFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	acked := 0
	for i := range n {
		key, val := fmt.Sprintf("%016x", random.GetRandom()), fmt.Sprint(i)
		p := primary(nodes)
		if p == "" {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		resp, err := httpc.Post("http://"+p+"/write?"+url.Values{"k": {key}, "v": {val}}.Encode(), "", nil)
		if err != nil {
			continue // unknown outcome: not recorded as acknowledged
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			// The check trusts this record: a write it cannot record
			// must stop the workload, not go unchecked.
			if _, err := fmt.Fprintf(f, "%s %s\n", key, val); err != nil {
				log.Fatalf("client: recording %s: %v", key, err)
			}
			acked++
		}
		if pace > 0 {
			time.Sleep(time.Duration(random.GetRandom() % uint64(2*pace)))
		}
	}
	assert.Sometimes(acked > 0, "writes are acknowledged", map[string]any{"acked": acked})
}

func check(nodes []string) {
	var p string
	for range 50 {
		if p = primary(nodes); p != "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	assert.Always(p != "", "a primary serves after the faults", nil)
	if p == "" {
		log.Fatal("client: no primary")
	}
	f, err := os.Open(ackedFile)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	acked, lost := 0, []string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		acked++
		resp, err := httpc.Get("http://" + p + "/read?" + url.Values{"k": {key}}.Encode())
		if err != nil {
			log.Fatalf("client: reading %s: %v", key, err)
		}
		var r struct {
			Value string `json:"value"`
			Found bool   `json:"found"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || !r.Found || r.Value != val {
			lost = append(lost, key)
		}
	}
	assert.Reachable("the checker read the acknowledged writes", map[string]any{"acked": acked})
	assert.Always(len(lost) == 0, "acknowledged writes survive a rejoin", map[string]any{"acked": acked, "lost": len(lost), "first_lost": lost[:min(len(lost), 5)]})
	log.Printf("%d acknowledged, %d lost", acked, len(lost))
}
