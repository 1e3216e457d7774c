// Command node is one of the two replicas of the failover example: a
// primary-backup key-value store. The primary replicates every write to
// the backup before acknowledging it; when the backup stops hearing the
// primary's heartbeats for a second it takes over with the next epoch; a
// restarted node asks its peer who is primary and follows it.
//
// The bug is the one a reasonable restart path has: a node that restarts
// and cannot reach its peer within a short timeout assumes the peer is
// down and makes itself primary with its stored epoch + 1. If the peer had
// taken over meanwhile (same epoch) and is only slow — paused, partitioned
// or restarting itself — there are two primaries of equal epoch, and the
// tie-break by name makes the taken-over node resync from the stale one:
// the writes it acknowledged alone are lost. It needs a failover and then
// a second fault on the new primary just as the old one restarts.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mvrun/multiverse/sdk/assert"
)

// stateFile keeps a node's data, epoch and role across restarts.
const stateFile = "state.json"

type state struct {
	Epoch int `json:"epoch"`
	// Version counts the writes applied: a backup that sees the primary
	// ahead of it (it missed a write while unreachable) resyncs.
	Version int               `json:"version"`
	Primary bool              `json:"primary"`
	Data    map[string]string `json:"data"`
}

type node struct {
	self, peer string // host:port
	mu         sync.Mutex
	st         state
	lastHeard  time.Time // the last heartbeat from a primary
}

var httpc = &http.Client{Timeout: 300 * time.Millisecond}

func main() {
	log.SetFlags(log.Lmicroseconds)
	n := &node{self: os.Getenv("FO_SELF"), peer: os.Getenv("FO_PEER")}
	if n.self == "" || n.peer == "" {
		log.Fatal("node: set FO_SELF and FO_PEER")
	}
	n.boot()
	http.HandleFunc("/role", n.role)
	http.HandleFunc("/write", n.write)
	http.HandleFunc("/read", n.read)
	http.HandleFunc("/replicate", n.replicate)
	http.HandleFunc("/heartbeat", n.heartbeat)
	http.HandleFunc("/snapshot", n.snapshot)
	go n.loop()
	_, port, _ := cut(n.self)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

func cut(hostport string) (string, string, bool) {
	for i := len(hostport) - 1; i >= 0; i-- {
		if hostport[i] == ':' {
			return hostport[:i], hostport[i+1:], true
		}
	}
	return hostport, "", false
}

// boot loads the stored state. A first start makes the node that sorts
// first the primary of epoch 1; a restart asks the peer.
func (n *node) boot() {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		n.st = state{Epoch: 1, Primary: n.self < n.peer, Data: map[string]string{}}
		n.persist()
		n.lastHeard = time.Now()
		return
	}
	if err := json.Unmarshal(b, &n.st); err != nil {
		log.Fatalf("node: %s: %v", stateFile, err)
	}
	var r roleReply
	if err := get(n.peer, "/role", &r); err == nil && r.Primary && r.Epoch >= n.st.Epoch {
		n.st.Primary, n.st.Epoch = false, r.Epoch
		n.lastHeard = time.Now()
		n.resync()
		log.Printf("restarted as backup of epoch %d", n.st.Epoch)
		return
	}
	// The peer did not answer, or is not primary: it must be down, and
	// someone has to serve writes.
	if err != nil {
		n.st.Epoch++
		assert.Reachable("a restarted node took over with its peer unreachable", map[string]any{"epoch": n.st.Epoch})
	}
	n.st.Primary = true
	n.persist()
	log.Printf("restarted as primary of epoch %d (peer: %v)", n.st.Epoch, err)
}

// persist writes the state and syncs it. The caller holds mu (or runs
// before the server starts).
func (n *node) persist() {
	b, _ := json.Marshal(n.st)
	f, err := os.Create(stateFile + ".tmp")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		log.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	if err := os.Rename(stateFile+".tmp", stateFile); err != nil {
		log.Fatal(err)
	}
}

// loop sends heartbeats as primary and watches for the primary's as
// backup.
func (n *node) loop() {
	for range time.Tick(100 * time.Millisecond) {
		n.mu.Lock()
		primary, epoch := n.st.Primary, n.st.Epoch
		if !primary && time.Since(n.lastHeard) > time.Second && !n.probe() {
			n.st.Primary, n.st.Epoch = true, n.st.Epoch+1
			n.persist()
			log.Printf("took over as primary of epoch %d", n.st.Epoch)
			assert.Reachable("the backup took over", map[string]any{"epoch": n.st.Epoch})
			primary, epoch = true, n.st.Epoch
		}
		n.mu.Unlock()
		if !primary {
			continue
		}
		n.mu.Lock()
		version := n.st.Version
		n.mu.Unlock()
		resp, err := httpc.Post("http://"+n.peer+"/heartbeat?"+url.Values{"epoch": {strconv.Itoa(epoch)}, "from": {n.self}, "version": {strconv.Itoa(version)}}.Encode(), "", nil)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			n.stepDown()
		}
	}
}

// probe asks the primary whether it is alive before a backup that has
// not heard it for a while takes over: the backup may itself have been
// paused, and heartbeats wait in its socket. The caller holds mu.
func (n *node) probe() bool {
	var r roleReply
	if err := get(n.peer, "/role", &r); err != nil || !r.Primary {
		return false
	}
	n.lastHeard = time.Now()
	return true
}

// outranks reports whether a primary of epoch e named from wins over this
// node: the higher epoch, and on equal epochs the name that sorts first.
func (n *node) outranks(e int, from string) bool {
	return e > n.st.Epoch || e == n.st.Epoch && from < n.self
}

func (n *node) heartbeat(w http.ResponseWriter, r *http.Request) {
	e, _ := strconv.Atoi(r.FormValue("epoch"))
	from := r.FormValue("from")
	n.mu.Lock()
	if n.st.Primary && !n.outranks(e, from) {
		n.mu.Unlock()
		w.WriteHeader(http.StatusConflict)
		return
	}
	v, _ := strconv.Atoi(r.FormValue("version"))
	wasPrimary, behind := n.st.Primary, v > n.st.Version
	n.st.Primary, n.st.Epoch = false, max(n.st.Epoch, e)
	n.lastHeard = time.Now()
	n.mu.Unlock()
	if wasPrimary {
		assert.Reachable("two primaries met and one stepped down", map[string]any{"epoch": e})
	}
	if wasPrimary || behind {
		go n.resync()
	}
}

// stepDown makes a primary that lost to its peer a backup and resyncs it.
func (n *node) stepDown() {
	n.mu.Lock()
	n.st.Primary = false
	n.lastHeard = time.Now()
	n.mu.Unlock()
	n.resync()
}

// resync replaces the backup's data by the primary's.
func (n *node) resync() {
	var s state
	if err := get(n.peer, "/snapshot", &s); err != nil {
		return // the next heartbeat's write will fail and retry on the primary's side
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.Primary {
		return
	}
	n.st.Data, n.st.Epoch, n.st.Version = s.Data, max(n.st.Epoch, s.Epoch), s.Version
	if n.st.Data == nil {
		n.st.Data = map[string]string{}
	}
	n.persist()
}

type roleReply struct {
	Primary bool `json:"primary"`
	Epoch   int  `json:"epoch"`
}

func (n *node) role(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	r := roleReply{n.st.Primary, n.st.Epoch}
	n.mu.Unlock()
	json.NewEncoder(w).Encode(r)
}

func (n *node) snapshot(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	b, _ := json.Marshal(n.st)
	n.mu.Unlock()
	w.Write(b)
}

// write applies a client's write as primary: replicated to the backup
// first; with the backup down the primary goes on alone, so that a
// failover keeps the store available.
func (n *node) write(w http.ResponseWriter, r *http.Request) {
	k, v := r.FormValue("k"), r.FormValue("v")
	n.mu.Lock()
	if !n.st.Primary {
		n.mu.Unlock()
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	epoch, version := n.st.Epoch, n.st.Version+1
	n.mu.Unlock()
	resp, err := httpc.Post("http://"+n.peer+"/replicate?"+url.Values{"k": {k}, "v": {v}, "epoch": {strconv.Itoa(epoch)}, "version": {strconv.Itoa(version)}}.Encode(), "", nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			n.stepDown()
			http.Error(w, "not primary", http.StatusMisdirectedRequest)
			return
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.st.Primary || n.st.Epoch != epoch {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	n.st.Data[k] = v
	n.st.Version++
	n.persist()
	fmt.Fprintln(w, "ok")
}

func (n *node) replicate(w http.ResponseWriter, r *http.Request) {
	e, _ := strconv.Atoi(r.FormValue("epoch"))
	n.mu.Lock()
	defer n.mu.Unlock()
	if e < n.st.Epoch || n.st.Primary && e == n.st.Epoch {
		w.WriteHeader(http.StatusConflict)
		return
	}
	v, _ := strconv.Atoi(r.FormValue("version"))
	n.st.Epoch = e
	n.st.Data[r.FormValue("k")] = r.FormValue("v")
	if v != n.st.Version+1 {
		go n.resync() // it missed a write: the primary's snapshot has it
	}
	n.st.Version = max(n.st.Version, v)
	n.persist()
}

func (n *node) read(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.st.Primary {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	v, ok := n.st.Data[r.FormValue("k")]
	json.NewEncoder(w).Encode(map[string]any{"value": v, "found": ok})
}

func get(hostport, path string, into any) error {
	resp, err := httpc.Get("http://" + hostport + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s", hostport, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
