// Command client is the workload of the kvstore example. It runs inside the
// "client" service: `client idle` keeps the service alive, `client write`
// makes acknowledged writes and records them, `client wait-leader` checks the
// cluster recovers after faults, and `client check` verifies that every
// acknowledged write survived.
//
// Every write and every read of the checker is also recorded as an
// operation of the history "kv" (sdk/history), which the spec's check block
// checks for linearizability: a write the store acknowledged and then lost
// shows up as a read that no order of the operations explains.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/mvrun/multiverse/sdk/history"
	"github.com/mvrun/multiverse/sdk/random"
)

// ackedFile records acknowledged writes, one "key value" per line, in the
// client service's working directory so later commands in the same service
// can read it.
const ackedFile = "acked.log"

// historyName is the history the spec's check block names.
const historyName = "kv"

var httpc = &http.Client{Timeout: 500 * time.Millisecond}

func main() {
	log.SetFlags(log.Lmicroseconds)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: client idle|write [n]|wait-leader|check")
		os.Exit(2)
	}
	nodes := strings.Split(os.Getenv("KV_NODES"), ",")
	if len(nodes) == 0 || nodes[0] == "" {
		log.Fatal("client: set KV_NODES to the replicas' host:port list")
	}
	switch os.Args[1] {
	case "idle":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
	case "write":
		n := 40
		if len(os.Args) > 2 {
			fmt.Sscan(os.Args[2], &n)
		}
		write(nodes, n)
	case "wait-leader":
		_, err := findLeader(nodes, 30*time.Second)
		assert.Always(err == nil, "cluster elects a leader after faults heal", map[string]any{"error": errString(err)})
		if err != nil {
			log.Fatal(err)
		}
	case "check":
		check(nodes)
	default:
		log.Fatalf("client: unknown command %q", os.Args[1])
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func write(nodes []string, n int) {
	rng := rand.New(random.Source())
	f, err := os.OpenFile(ackedFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	id := rng.Uint32()
	acked := 0
	leader := nodes[rng.IntN(len(nodes))]
	h := history.NewClient(historyName)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k%08x-%d", id, i)
		val := fmt.Sprintf("v%d", rng.Uint32())
		deadline := time.Now().Add(3 * time.Second)
		// One operation however many attempts it takes: every attempt
		// writes the same value, so a retry cannot change the outcome.
		op := h.Invoke("write", key, val)
		var ambiguous error // an attempt that may have reached a leader
		ok := false
		for time.Now().Before(deadline) {
			hint, err := put(leader, key, val)
			if err != nil && !errors.Is(err, errNotLeader) {
				ambiguous = err
			}
			if err == nil {
				ok = true
				op.Ok(nil)
				// One write(2) per record: concurrent writers do not interleave.
				if _, err := f.WriteString(key + " " + val + "\n"); err != nil {
					log.Fatal(err)
				}
				f.Sync()
				acked++
				break
			}
			if hint != "" {
				leader = hint
			} else {
				leader = nodes[rng.IntN(len(nodes))]
				time.Sleep(50 * time.Millisecond)
			}
		}
		switch {
		case ok:
		case ambiguous != nil:
			op.Info(ambiguous) // it may have been applied after all
		default:
			op.Fail(errNotLeader) // every replica refused it
		}
	}
	log.Printf("write: %d of %d writes acknowledged", acked, n)
	assert.Sometimes(acked > 0, "writes are acknowledged during faults", map[string]any{"acked": acked})
}

// errNotLeader is a refusal by a replica that is not the leader: the write
// certainly was not applied.
var errNotLeader = errors.New("not leader")

// put writes key=val at addr. It returns the leader hint when addr is not
// the leader.
func put(addr, key, val string) (string, error) {
	resp, err := httpc.PostForm("http://"+addr+"/put", url.Values{"key": {key}, "value": {val}})
	if err != nil {
		return "", err
	}
	defer func() {
		// Read to the end so the connection goes back to the pool: an
		// unread body closes it, and every write would dial anew.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusMisdirectedRequest {
		var h struct{ Leader string }
		json.NewDecoder(resp.Body).Decode(&h)
		return h.Leader, errNotLeader
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return "", nil
}

type status struct {
	ID     string `json:"id"`
	Role   string `json:"role"`
	Term   int    `json:"term"`
	Commit int    `json:"commit"`
	Last   int    `json:"last"`
}

// findLeader waits for a replica that is leader and has committed its whole log.
func findLeader(nodes []string, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	var last error = errors.New("no replica answered")
	for time.Now().Before(deadline) {
		for _, addr := range nodes {
			resp, err := httpc.Get("http://" + addr + "/status")
			if err != nil {
				last = err
				continue
			}
			var s status
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err == nil && s.Role == "leader" && s.Commit == s.Last {
				return addr, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("no leader with a fully committed log within %v: %v", within, last)
}

func check(nodes []string) {
	f, err := os.Open(ackedFile)
	if errors.Is(err, os.ErrNotExist) {
		log.Printf("check: no writes were acknowledged")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	leader, err := findLeader(nodes, 30*time.Second)
	if err != nil {
		log.Fatalf("check: %v", err)
	}
	total, lost := 0, []string{}
	h := history.NewClient(historyName)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, want, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		total++
		op := h.Invoke("read", key, nil)
		got, found, err := get(nodes, &leader, key)
		if err != nil {
			op.Info(err)
			log.Fatalf("check: reading %s: %v", key, err)
		}
		if found {
			op.Ok(got)
		} else {
			op.Ok(nil) // absent: null
		}
		if !found || got != want {
			lost = append(lost, key)
		}
	}
	log.Printf("check: %d acknowledged writes, %d lost", total, len(lost))
	assert.Always(len(lost) == 0, "acknowledged writes survive failover", map[string]any{
		"acknowledged": total, "lost": len(lost), "first_lost": first(lost, 5),
	})
	assert.Reachable("the checker verified acknowledged writes", map[string]any{"acknowledged": total})
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func get(nodes []string, leader *string, key string) (string, bool, error) {
	for attempt := 0; attempt < 50; attempt++ {
		resp, err := httpc.Get("http://" + *leader + "/get?key=" + url.QueryEscape(key))
		if err == nil {
			var r struct {
				Value string `json:"value"`
				Found bool   `json:"found"`
			}
			ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&r) == nil
			resp.Body.Close()
			if ok {
				return r.Value, r.Found, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
		if l, err := findLeader(nodes, 10*time.Second); err == nil {
			*leader = l
		}
	}
	return "", false, errors.New("no answer from the leader")
}
