// Command node is one of the two replicas of the rejoin example: a
// primary-backup key-value store with leases.
//
// The primary stamps every write with a sequence number, replicates it to
// the backup and acknowledges it once both have it; with the backup
// unreachable it goes on alone, and the backup, seeing a gap in the
// sequence numbers, fetches what it missed. The primary heartbeats every
// 100 ms; a backup that hears nothing for a lease (1 s) and cannot reach
// the primary takes over with the next epoch. A primary that meets a
// higher epoch steps down.
//
// A replica that comes back (restarted, or a primary that stepped down)
// rejoins. If it was a backup of the current epoch, its data is a prefix of
// the primary's and it fetches the writes after its sequence number. A
// deposed primary cannot trust its data (it may hold writes it
// acknowledged alone), so it discards it and copies the new primary's,
// one page of keys at a time so the primary's lock is never held long.
//
// The bug is in that resync. While it copies, the resyncing replica turns
// replicated writes away, on the reasoning that a later page will bring
// them, and the primary, told the backup is resyncing, acknowledges them
// alone. A write whose key sorts before the page cursor is never copied,
// and the resync ends at the sequence number of its last page, which
// counts that write: the gap check cannot see the hole. It costs nothing
// until the resynced replica itself takes over; then the write is gone.
// It takes a takeover, a client write landing on an already copied key
// during the few milliseconds of the resync, and later a second takeover
// the other way.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mvrun/multiverse/sdk/assert"
)

const (
	stateFile = "state.json"
	heartbeat = 100 * time.Millisecond
	lease     = time.Second
	// pageSize is how many keys one resync page carries.
	pageSize = 8
)

// entry is one key's value and the sequence number of the write that set it.
type entry struct {
	Value string `json:"v"`
	Seq   int    `json:"s"`
}

// state is what a replica keeps across restarts.
type state struct {
	Epoch int `json:"epoch"`
	// Seq is the sequence number of the last write applied: a backup has
	// every write of its epoch's history up to Seq.
	Seq     int              `json:"seq"`
	Primary bool             `json:"primary"`
	Data    map[string]entry `json:"data"`
}

// role is what a replica is doing now.
type role int

const (
	rejoining role = iota // back from a restart or a step-down; serves nothing
	resyncing             // a deposed primary copying the new primary's data
	backup
	primary
)

type node struct {
	self, peer string
	mu         sync.Mutex
	st         state
	role       role
	lastHeard  time.Time // the primary's last heartbeat (as backup)
	catching   bool      // a catch-up by sequence number is running
	// issued is the last sequence number a primary gave a write, which
	// may not be applied yet (it is replicated first): what the primary
	// tells others is st.Seq, the writes it has.
	issued int
}

var httpc = &http.Client{Timeout: 300 * time.Millisecond}

func main() {
	log.SetFlags(log.Lmicroseconds)
	n := &node{self: os.Getenv("RJ_SELF"), peer: os.Getenv("RJ_PEER")}
	if n.self == "" || n.peer == "" {
		log.Fatal("node: set RJ_SELF and RJ_PEER")
	}
	n.load()
	for path, h := range map[string]http.HandlerFunc{
		"/role": n.roleH, "/write": n.write, "/read": n.read, "/replicate": n.replicate,
		"/heartbeat": n.heartbeat, "/since": n.since, "/page": n.page,
	} {
		http.HandleFunc(path, h)
	}
	go n.loop()
	_, port, _ := cutPort(n.self)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

func cutPort(hostport string) (string, string, bool) {
	for i := len(hostport) - 1; i >= 0; i-- {
		if hostport[i] == ':' {
			return hostport[:i], hostport[i+1:], true
		}
	}
	return hostport, "", false
}

// load reads the stored state. A first start makes the replica that sorts
// first the primary of epoch 1 and the other its backup; a restart
// rejoins.
func (n *node) load() {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		n.st = state{Epoch: 1, Primary: n.self < n.peer, Data: map[string]entry{}}
		n.role = backup
		if n.st.Primary {
			n.role = primary
		}
		n.lastHeard = time.Now()
		n.persist()
		return
	}
	if err := json.Unmarshal(b, &n.st); err != nil {
		log.Fatalf("node: %s: %v", stateFile, err)
	}
	if n.st.Data == nil {
		n.st.Data = map[string]entry{}
	}
	n.role = rejoining
}

// persist writes the state and syncs it. The caller holds mu (or runs
// before the server starts).
func (n *node) persist() {
	b, err := json.Marshal(n.st)
	if err != nil {
		log.Fatal(err)
	}
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
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(stateFile+".tmp", stateFile); err != nil {
		log.Fatal(err)
	}
	// The rename is durable only once the directory is synced.
	d, err := os.Open(".")
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		log.Fatal(err)
	}
	if err := d.Close(); err != nil {
		log.Fatal(err)
	}
}

// loop drives the replica's role: heartbeats as primary, the lease as
// backup, rejoining after a restart or a step-down.
func (n *node) loop() {
	n.rejoin() // at once: a restarted replica should not wait a tick
	for range time.Tick(heartbeat) {
		n.mu.Lock()
		r, epoch, seq := n.role, n.st.Epoch, n.st.Seq
		if r == backup && time.Since(n.lastHeard) > lease && !n.probe() {
			n.st.Epoch++
			n.st.Primary, n.role = true, primary
			n.persist()
			log.Printf("took over as primary of epoch %d at seq %d", n.st.Epoch, n.st.Seq)
			assert.Reachable("the backup took over after the primary's lease expired", map[string]any{"epoch": n.st.Epoch, "seq": n.st.Seq})
			r, epoch, seq = primary, n.st.Epoch, n.st.Seq
		}
		n.mu.Unlock()
		switch r {
		case rejoining:
			n.rejoin()
		case primary:
			n.sendHeartbeat(epoch, seq)
		}
	}
}

// probe asks the primary whether it is alive before a backup whose lease
// ran out takes over: the backup may itself have been paused, with the
// heartbeats waiting in its socket. The caller holds mu.
func (n *node) probe() bool {
	var r roleReply
	if err := get(n.peer, "/role", &r); err != nil || !r.Primary {
		return false
	}
	n.lastHeard = time.Now()
	return true
}

func (n *node) sendHeartbeat(epoch, seq int) {
	resp, err := httpc.Post("http://"+n.peer+"/heartbeat?"+url.Values{"epoch": {strconv.Itoa(epoch)}, "seq": {strconv.Itoa(seq)}}.Encode(), "", nil)
	if err != nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		n.stepDown(epoch)
	}
}

// stepDown makes a primary that met a higher epoch rejoin.
func (n *node) stepDown(epoch int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != primary || n.st.Epoch != epoch {
		return
	}
	n.role, n.st.Primary = rejoining, false
	n.persist()
	log.Printf("stepped down from epoch %d", epoch)
	assert.Reachable("a deposed primary stepped down", map[string]any{"epoch": epoch})
}

type roleReply struct {
	Primary   bool `json:"primary"`
	Rejoining bool `json:"rejoining"`
	Epoch     int  `json:"epoch"`
	Seq       int  `json:"seq"`
	// WasPrimary is the stored role of a rejoining replica.
	WasPrimary bool `json:"was_primary"`
}

// rejoin brings a restarted or stepped-down replica back: as a backup of
// the current primary, after catching up by sequence number if it was a
// backup of the primary's epoch, or after a full resync otherwise.
func (n *node) rejoin() {
	var r roleReply
	if err := get(n.peer, "/role", &r); err != nil {
		return // the peer is down or paused: try again next tick
	}
	n.mu.Lock()
	if n.role != rejoining {
		n.mu.Unlock()
		return
	}
	switch {
	case r.Primary && r.Epoch == n.st.Epoch && !n.st.Primary:
		// A backup of this history: the writes after Seq are all it lacks.
		n.role, n.lastHeard = backup, time.Now()
		seq := n.st.Seq
		n.mu.Unlock()
		log.Printf("rejoined as backup of epoch %d at seq %d", r.Epoch, seq)
		assert.Reachable("a restarted backup rejoined its epoch", map[string]any{"epoch": r.Epoch, "behind": r.Seq - seq})
		n.catchUp()
	case r.Primary:
		n.role = resyncing
		n.mu.Unlock()
		n.resync()
	case !r.Rejoining && r.Epoch == n.st.Epoch && n.st.Primary:
		// The peer is still our backup: nobody took over while we were
		// away, and our data holds everything it has.
		n.role, n.st.Primary = primary, true
		n.mu.Unlock()
		log.Printf("resumed as primary of epoch %d", r.Epoch)
		assert.Reachable("a restarted primary resumed its epoch", map[string]any{"epoch": r.Epoch})
	case r.Rejoining && n.outranks(r):
		// Both came back: the one with the newer history leads, in a new
		// epoch, and the other resyncs from it.
		n.st.Epoch = max(n.st.Epoch, r.Epoch) + 1
		n.role, n.st.Primary = primary, true
		n.persist()
		n.mu.Unlock()
		log.Printf("both replicas rejoining: primary of epoch %d", n.st.Epoch)
		assert.Reachable("both replicas were rejoining and one took the lead", map[string]any{"epoch": n.st.Epoch})
	default:
		n.mu.Unlock() // the peer decides, or is a backup that will take over
	}
}

// outranks reports whether this rejoining replica's history is newer than
// the rejoining peer's r: higher epoch, then more writes, then the former
// primary, then the name. The caller holds mu.
func (n *node) outranks(r roleReply) bool {
	if n.st.Epoch != r.Epoch {
		return n.st.Epoch > r.Epoch
	}
	if n.st.Seq != r.Seq {
		return n.st.Seq > r.Seq
	}
	if n.st.Primary != r.WasPrimary {
		return n.st.Primary
	}
	return n.self < n.peer
}

// catchUp fetches the writes after the backup's sequence number.
func (n *node) catchUp() {
	n.mu.Lock()
	if n.catching || n.role != backup {
		n.mu.Unlock()
		return
	}
	n.catching = true
	seq := n.st.Seq
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.catching = false
		n.mu.Unlock()
	}()
	var d sinceReply
	if err := get(n.peer, "/since?seq="+strconv.Itoa(seq), &d); err != nil {
		return // the next gap the heartbeats show tries again
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != backup || d.Epoch != n.st.Epoch {
		return
	}
	for k, e := range d.Entries {
		if old, ok := n.st.Data[k]; !ok || old.Seq < e.Seq {
			n.st.Data[k] = e
		}
	}
	n.st.Seq = max(n.st.Seq, d.Seq)
	n.persist()
}

type sinceReply struct {
	Epoch   int              `json:"epoch"`
	Seq     int              `json:"seq"`
	Entries map[string]entry `json:"entries"`
}

// since serves the writes after a sequence number, to a backup of this
// epoch that missed some.
func (n *node) since(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.Atoi(r.FormValue("seq"))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != primary {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	d := sinceReply{Epoch: n.st.Epoch, Seq: n.st.Seq, Entries: map[string]entry{}}
	for k, e := range n.st.Data {
		if e.Seq > after {
			d.Entries[k] = e
		}
	}
	json.NewEncoder(w).Encode(d)
}

type pageReply struct {
	Epoch   int      `json:"epoch"`
	Seq     int      `json:"seq"`
	Keys    []string `json:"keys"`
	Entries []entry  `json:"entries"`
	More    bool     `json:"more"`
}

// page serves up to pageSize keys after a key, in key order, for a
// resync.
func (n *node) page(w http.ResponseWriter, r *http.Request) {
	after := r.FormValue("after")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != primary {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	var keys []string
	for k := range n.st.Data {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	p := pageReply{Epoch: n.st.Epoch, Seq: n.st.Seq, More: len(keys) > pageSize}
	p.Keys = keys[:min(len(keys), pageSize)]
	for _, k := range p.Keys {
		p.Entries = append(p.Entries, n.st.Data[k])
	}
	json.NewEncoder(w).Encode(p)
}

// resync replaces a deposed primary's data by the new primary's, copied a
// page at a time. Replicated writes that arrive meanwhile are turned away
// (see replicate): they are meant to come with a later page.
func (n *node) resync() {
	fresh, cursor, pages := map[string]entry{}, "", 0
	var p pageReply
	for {
		if err := get(n.peer, "/page?"+url.Values{"after": {cursor}}.Encode(), &p); err != nil {
			n.mu.Lock()
			n.role = rejoining // start over once the primary answers
			n.mu.Unlock()
			return
		}
		pages++
		for i, k := range p.Keys {
			fresh[k] = p.Entries[i]
		}
		if !p.More {
			break
		}
		cursor = p.Keys[len(p.Keys)-1]
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != resyncing {
		return
	}
	// The last page's sequence number covers every write made before it.
	n.st = state{Epoch: p.Epoch, Seq: p.Seq, Data: fresh}
	n.role, n.lastHeard = backup, time.Now()
	n.persist()
	log.Printf("resynced from the primary of epoch %d: %d keys in %d pages, seq %d", p.Epoch, len(fresh), pages, p.Seq)
	assert.Reachable("a deposed primary resynced from the new primary", map[string]any{"epoch": p.Epoch, "pages": pages})
}

func (n *node) roleH(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	r := roleReply{Primary: n.role == primary, Rejoining: n.role == rejoining, Epoch: n.st.Epoch, Seq: n.st.Seq, WasPrimary: n.st.Primary}
	n.mu.Unlock()
	json.NewEncoder(w).Encode(r)
}

// heartbeat renews a backup's lease from its primary, shows it any gap in
// the sequence numbers, and tells a primary of a lower epoch to step down.
func (n *node) heartbeat(w http.ResponseWriter, r *http.Request) {
	e, _ := strconv.Atoi(r.FormValue("epoch"))
	seq, _ := strconv.Atoi(r.FormValue("seq"))
	n.mu.Lock()
	if e < n.st.Epoch && (n.role == primary || n.role == backup) {
		n.mu.Unlock()
		w.WriteHeader(http.StatusConflict)
		return
	}
	if n.role == primary && e > n.st.Epoch {
		// A newer primary: step down and rejoin it.
		n.role, n.st.Primary = rejoining, false
		n.persist()
		n.mu.Unlock()
		assert.Reachable("a deposed primary stepped down", map[string]any{"epoch": n.st.Epoch})
		return
	}
	behind := false
	if n.role == backup {
		n.lastHeard = time.Now()
		behind = seq > n.st.Seq
	}
	n.mu.Unlock()
	if behind {
		go n.catchUp()
	}
}

// write applies a client's write as primary: replicated to the backup
// first; with the backup unreachable or resyncing the primary goes on
// alone.
func (n *node) write(w http.ResponseWriter, r *http.Request) {
	k, v := r.FormValue("k"), r.FormValue("v")
	n.mu.Lock()
	if n.role != primary {
		n.mu.Unlock()
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	epoch := n.st.Epoch
	n.issued = max(n.issued, n.st.Seq) + 1
	seq := n.issued
	n.mu.Unlock()
	resp, err := httpc.Post("http://"+n.peer+"/replicate?"+url.Values{"k": {k}, "v": {v}, "epoch": {strconv.Itoa(epoch)}, "seq": {strconv.Itoa(seq)}}.Encode(), "", nil)
	alone := "unreachable"
	if err == nil {
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			alone = ""
		case http.StatusConflict:
			n.stepDown(epoch)
			http.Error(w, "not primary", http.StatusMisdirectedRequest)
			return
		case http.StatusServiceUnavailable:
			// The backup is resyncing: the write reaches it with a later
			// page of the copy.
			alone = "resyncing"
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != primary || n.st.Epoch != epoch {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	if alone != "" {
		assert.Reachable("the primary acknowledged a write without its backup", map[string]any{"backup": alone})
	}
	n.st.Data[k] = entry{Value: v, Seq: seq}
	n.st.Seq = max(n.st.Seq, seq)
	n.persist()
	fmt.Fprintln(w, "ok")
}

// replicate applies a write from the primary.
func (n *node) replicate(w http.ResponseWriter, r *http.Request) {
	e, _ := strconv.Atoi(r.FormValue("epoch"))
	seq, _ := strconv.Atoi(r.FormValue("seq"))
	n.mu.Lock()
	switch {
	case n.role == resyncing:
		n.mu.Unlock()
		assert.Reachable("a resyncing replica turned a replicated write away", map[string]any{"seq": seq})
		http.Error(w, "resyncing", http.StatusServiceUnavailable)
		return
	case n.role == rejoining:
		n.mu.Unlock()
		http.Error(w, "rejoining", http.StatusServiceUnavailable)
		return
	case e < n.st.Epoch || n.role == primary && e == n.st.Epoch:
		n.mu.Unlock()
		w.WriteHeader(http.StatusConflict)
		return
	case n.role == primary:
		// A newer primary writes: this one was deposed.
		n.role, n.st.Primary = rejoining, false
		n.persist()
		n.mu.Unlock()
		http.Error(w, "rejoining", http.StatusServiceUnavailable)
		return
	}
	had := n.st.Seq
	gap := seq > had+1
	n.st.Epoch = e
	n.st.Data[r.FormValue("k")] = entry{Value: r.FormValue("v"), Seq: seq}
	n.st.Seq = max(n.st.Seq, seq)
	n.persist()
	n.mu.Unlock()
	if gap {
		// It missed writes (it was unreachable): fetch them. The new
		// write already moved Seq, so ask from where it was.
		go n.fetchGap(had)
	}
}

// fetchGap fetches the writes after seq that a backup missed.
func (n *node) fetchGap(seq int) {
	var d sinceReply
	if err := get(n.peer, "/since?seq="+strconv.Itoa(seq), &d); err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != backup || d.Epoch != n.st.Epoch {
		return
	}
	for k, e := range d.Entries {
		if old, ok := n.st.Data[k]; !ok || old.Seq < e.Seq {
			n.st.Data[k] = e
		}
	}
	n.persist()
}

func (n *node) read(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != primary {
		http.Error(w, "not primary", http.StatusMisdirectedRequest)
		return
	}
	e, ok := n.st.Data[r.FormValue("k")]
	json.NewEncoder(w).Encode(map[string]any{"value": e.Value, "found": ok})
}

var errStatus = errors.New("unexpected status")

func get(hostport, path string, into any) error {
	resp, err := httpc.Get("http://" + hostport + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s: %w", hostport, path, resp.Status, errStatus)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
