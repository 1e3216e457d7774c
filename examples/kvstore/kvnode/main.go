// Command kvnode is one replica of a small replicated key-value store used as
// an mvrun example. Replicas elect a leader and replicate an append-only log
// Raft-style (terms, votes, log matching, majority commit), persisting their
// state to the working directory with fsync so a killed replica restarts
// where it left off.
//
// The planted bug: with KV_ACK=leader (the default of the buggy example) the
// leader acknowledges a write as soon as it is in its own log, before a
// majority has it. A leader that is cut off or killed right after such an
// acknowledgement can lose the write when a new leader, which never saw it,
// overwrites its log. KV_ACK=majority waits for the commit and is correct.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/sdk/assert"
	"github.com/mvrun/multiverse/sdk/lifecycle"
	"github.com/mvrun/multiverse/sdk/random"
)

// Entry is one log entry: a write of Value to Key made in Term. A no-op entry
// (empty Key) starts every term so a new leader can commit earlier entries.
type Entry struct {
	Term  int    `json:"term"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

type role int

const (
	follower role = iota
	candidate
	leader
)

func (r role) String() string { return [...]string{"follower", "candidate", "leader"}[r] }

type node struct {
	id          string   // host:port of this replica
	peers       []string // host:port of the others
	dir         string
	ackMajority bool
	rng         *rand.Rand
	client      *http.Client

	mu          sync.Mutex
	cond        *sync.Cond // signalled when commit advances or the role changes
	term        int
	votedFor    string
	log         []Entry // log[0] is a sentinel of term 0
	commit      int
	applied     int
	kv          map[string]string
	role        role
	leaderID    string
	lastHeard   time.Time
	electionDue time.Duration
	next, match map[string]int
	logFile     *os.File
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	self := os.Getenv("KV_SELF")   // e.g. kv1:7000
	peers := os.Getenv("KV_PEERS") // comma-separated, may include self
	if self == "" || peers == "" {
		log.Fatal("kvnode: set KV_SELF (this replica's host:port) and KV_PEERS (all replicas)")
	}
	n := &node{
		id:          self,
		dir:         envOr("KV_DIR", "."),
		ackMajority: os.Getenv("KV_ACK") == "majority",
		rng:         rand.New(random.Source()),
		client:      &http.Client{Timeout: 300 * time.Millisecond},
		kv:          map[string]string{},
		next:        map[string]int{},
		match:       map[string]int{},
	}
	for _, p := range strings.Split(peers, ",") {
		if p = strings.TrimSpace(p); p != "" && p != self {
			n.peers = append(n.peers, p)
		}
	}
	n.cond = sync.NewCond(&n.mu)
	if err := n.load(); err != nil {
		log.Fatalf("kvnode: loading state from %s: %v", n.dir, err)
	}
	n.resetElectionTimer()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /raft/vote", n.handleVote)
	mux.HandleFunc("POST /raft/append", n.handleAppend)
	mux.HandleFunc("POST /put", n.handlePut)
	mux.HandleFunc("GET /get", n.handleGet)
	mux.HandleFunc("GET /status", n.handleStatus)
	_, port, _ := net.SplitHostPort(self)
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatalf("kvnode: listen: %v", err)
	}
	log.Printf("kvnode %s up: term %d, %d log entries, ack=%s", self, n.term, len(n.log)-1, map[bool]string{false: "leader", true: "majority"}[n.ackMajority])
	lifecycle.SetupComplete(map[string]any{"node": self})
	go n.ticker()
	log.Fatal(http.Serve(ln, mux))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// --- persistence -----------------------------------------------------------

type hardState struct {
	Term     int    `json:"term"`
	VotedFor string `json:"voted_for"`
}

func (n *node) load() error {
	n.log = []Entry{{Term: 0}}
	if b, err := os.ReadFile(filepath.Join(n.dir, "state.json")); err == nil {
		var hs hardState
		if err := json.Unmarshal(b, &hs); err != nil {
			return fmt.Errorf("state.json: %w", err)
		}
		n.term, n.votedFor = hs.Term, hs.VotedFor
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(n.dir, "log.jsonl")); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e Entry
			if len(line) == 0 || json.Unmarshal(line, &e) != nil {
				continue // a torn final line from a kill mid-write
			}
			n.log = append(n.log, e)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return n.rewriteLog()
}

// saveHardState persists term and vote before they are acted upon.
func (n *node) saveHardState() {
	b, _ := json.Marshal(hardState{n.term, n.votedFor})
	tmp := filepath.Join(n.dir, "state.json.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		log.Fatalf("kvnode: %v", err)
	}
	f.Write(b)
	f.Sync()
	f.Close()
	if err := os.Rename(tmp, filepath.Join(n.dir, "state.json")); err != nil {
		log.Fatalf("kvnode: %v", err)
	}
}

func (n *node) appendLog(es ...Entry) {
	var buf bytes.Buffer
	for _, e := range es {
		b, _ := json.Marshal(e)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := n.logFile.Write(buf.Bytes()); err != nil {
		log.Fatalf("kvnode: writing log: %v", err)
	}
	n.logFile.Sync()
	n.log = append(n.log, es...)
}

// rewriteLog replaces the log file with n.log (after a truncation).
func (n *node) rewriteLog() error {
	if n.logFile != nil {
		n.logFile.Close()
	}
	tmp := filepath.Join(n.dir, "log.jsonl.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	for _, e := range n.log[1:] {
		b, _ := json.Marshal(e)
		f.Write(append(b, '\n'))
	}
	f.Sync()
	f.Close()
	if err := os.Rename(tmp, filepath.Join(n.dir, "log.jsonl")); err != nil {
		return err
	}
	n.logFile, err = os.OpenFile(filepath.Join(n.dir, "log.jsonl"), os.O_WRONLY|os.O_APPEND, 0o644)
	return err
}

// --- elections -------------------------------------------------------------

func (n *node) resetElectionTimer() {
	n.lastHeard = time.Now()
	n.electionDue = time.Duration(300+n.rng.IntN(300)) * time.Millisecond
}

func (n *node) lastIndexTerm() (int, int) {
	return len(n.log) - 1, n.log[len(n.log)-1].Term
}

// becomeFollower steps down into term t. Callers hold n.mu.
func (n *node) becomeFollower(t int, leaderID string) {
	if t > n.term {
		n.term, n.votedFor = t, ""
		n.saveHardState()
	}
	if n.role == leader {
		log.Printf("stepping down in term %d", n.term)
	}
	n.role, n.leaderID = follower, leaderID
	n.cond.Broadcast()
}

func (n *node) ticker() {
	for range time.Tick(50 * time.Millisecond) {
		n.mu.Lock()
		switch n.role {
		case leader:
			n.mu.Unlock()
			n.replicate()
			continue
		default:
			if time.Since(n.lastHeard) >= n.electionDue {
				n.mu.Unlock()
				n.campaign()
				continue
			}
		}
		n.mu.Unlock()
	}
}

type voteReq struct {
	Term      int    `json:"term"`
	Candidate string `json:"candidate"`
	LastIndex int    `json:"last_index"`
	LastTerm  int    `json:"last_term"`
}

type voteResp struct {
	Term    int  `json:"term"`
	Granted bool `json:"granted"`
}

func (n *node) campaign() {
	n.mu.Lock()
	n.term++
	n.role, n.votedFor, n.leaderID = candidate, n.id, ""
	n.saveHardState()
	n.resetElectionTimer()
	li, lt := n.lastIndexTerm()
	req := voteReq{n.term, n.id, li, lt}
	n.mu.Unlock()

	votes := 1
	var vmu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range n.peers {
		wg.Add(1)
		go func(p string) {
			defer wg.Done()
			var resp voteResp
			if n.call(p, "/raft/vote", req, &resp) != nil {
				return
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			if resp.Term > n.term {
				n.becomeFollower(resp.Term, "")
				return
			}
			if resp.Granted {
				vmu.Lock()
				votes++
				vmu.Unlock()
			}
		}(p)
	}
	wg.Wait()

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != candidate || n.term != req.Term || votes*2 <= len(n.peers)+1 {
		return
	}
	n.role, n.leaderID = leader, n.id
	for _, p := range n.peers {
		n.next[p], n.match[p] = len(n.log), 0
	}
	n.appendLog(Entry{Term: n.term}) // no-op that lets this term commit earlier entries
	log.Printf("leader for term %d with %d votes", n.term, votes)
	assert.Sometimes(n.term > 1, "a new leader is elected after the first term", map[string]any{"term": n.term, "node": n.id})
	n.cond.Broadcast()
}

func (n *node) handleVote(w http.ResponseWriter, r *http.Request) {
	var req voteReq
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if req.Term > n.term {
		n.becomeFollower(req.Term, "")
	}
	li, lt := n.lastIndexTerm()
	upToDate := req.LastTerm > lt || (req.LastTerm == lt && req.LastIndex >= li)
	granted := req.Term == n.term && (n.votedFor == "" || n.votedFor == req.Candidate) && upToDate
	if granted {
		n.votedFor = req.Candidate
		n.saveHardState()
		n.resetElectionTimer()
	}
	json.NewEncoder(w).Encode(voteResp{n.term, granted})
}

// --- replication -----------------------------------------------------------

type appendReq struct {
	Term      int     `json:"term"`
	Leader    string  `json:"leader"`
	PrevIndex int     `json:"prev_index"`
	PrevTerm  int     `json:"prev_term"`
	Entries   []Entry `json:"entries"`
	Commit    int     `json:"commit"`
}

type appendResp struct {
	Term    int  `json:"term"`
	Success bool `json:"success"`
	Last    int  `json:"last"` // follower's last log index, to skip back quickly
}

func (n *node) replicate() {
	n.mu.Lock()
	if n.role != leader {
		n.mu.Unlock()
		return
	}
	reqs := map[string]appendReq{}
	for _, p := range n.peers {
		prev := n.next[p] - 1
		if prev >= len(n.log) {
			prev = len(n.log) - 1
		}
		entries := append([]Entry(nil), n.log[prev+1:]...)
		if len(entries) > 64 {
			entries = entries[:64]
		}
		reqs[p] = appendReq{n.term, n.id, prev, n.log[prev].Term, entries, n.commit}
	}
	n.mu.Unlock()

	var wg sync.WaitGroup
	for p, req := range reqs {
		wg.Add(1)
		go func(p string, req appendReq) {
			defer wg.Done()
			var resp appendResp
			if n.call(p, "/raft/append", req, &resp) != nil {
				return
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			if resp.Term > n.term {
				n.becomeFollower(resp.Term, "")
				return
			}
			if n.role != leader || n.term != req.Term {
				return
			}
			if resp.Success {
				m := req.PrevIndex + len(req.Entries)
				if m > n.match[p] {
					n.match[p] = m
				}
				n.next[p] = m + 1
				n.advanceCommit()
			} else {
				n.next[p] = max(1, min(req.PrevIndex, resp.Last+1))
			}
		}(p, req)
	}
	wg.Wait()
}

// advanceCommit commits the highest index a majority holds from this term.
func (n *node) advanceCommit() {
	for idx := len(n.log) - 1; idx > n.commit; idx-- {
		if n.log[idx].Term != n.term {
			break
		}
		count := 1
		for _, p := range n.peers {
			if n.match[p] >= idx {
				count++
			}
		}
		if count*2 > len(n.peers)+1 {
			n.setCommit(idx)
			return
		}
	}
}

func (n *node) setCommit(c int) {
	assert.Always(c <= len(n.log)-1, "commit index never exceeds the log", map[string]any{"commit": c, "log": len(n.log) - 1})
	if c <= n.commit {
		return
	}
	n.commit = c
	for n.applied < n.commit {
		n.applied++
		if e := n.log[n.applied]; e.Key != "" {
			n.kv[e.Key] = e.Value
		}
	}
	n.cond.Broadcast()
}

func (n *node) handleAppend(w http.ResponseWriter, r *http.Request) {
	var req appendReq
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if req.Term < n.term {
		json.NewEncoder(w).Encode(appendResp{n.term, false, len(n.log) - 1})
		return
	}
	n.becomeFollower(req.Term, req.Leader)
	n.resetElectionTimer()
	if req.PrevIndex >= len(n.log) || n.log[req.PrevIndex].Term != req.PrevTerm {
		json.NewEncoder(w).Encode(appendResp{n.term, false, len(n.log) - 1})
		return
	}
	// Log matching: drop a conflicting suffix, then append what is new.
	for i, e := range req.Entries {
		idx := req.PrevIndex + 1 + i
		if idx < len(n.log) {
			if n.log[idx].Term == e.Term {
				continue
			}
			assert.Reachable("a follower discards a conflicting log suffix", map[string]any{"node": n.id, "from_index": idx, "dropped": len(n.log) - idx})
			n.log = n.log[:idx]
			if err := n.rewriteLog(); err != nil {
				log.Fatalf("kvnode: %v", err)
			}
		}
		n.appendLog(req.Entries[i:]...)
		break
	}
	if req.Commit > n.commit {
		n.setCommit(min(req.Commit, req.PrevIndex+len(req.Entries)))
	}
	json.NewEncoder(w).Encode(appendResp{n.term, true, len(n.log) - 1})
}

func (n *node) call(peer, path string, req, resp any) error {
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, "POST", "http://"+peer+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	r, err := n.client.Do(hr)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s", peer, path, r.Status)
	}
	return json.NewDecoder(r.Body).Decode(resp)
}

// --- client API ------------------------------------------------------------

func (n *node) notLeader(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMisdirectedRequest)
	json.NewEncoder(w).Encode(map[string]string{"leader": n.leaderID})
}

func (n *node) handlePut(w http.ResponseWriter, r *http.Request) {
	key, value := r.FormValue("key"), r.FormValue("value")
	if key == "" {
		http.Error(w, "key required", http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != leader {
		n.notLeader(w)
		return
	}
	n.appendLog(Entry{Term: n.term, Key: key, Value: value})
	idx, term := len(n.log)-1, n.term
	if n.ackMajority {
		deadline := time.Now().Add(2 * time.Second)
		t := time.AfterFunc(2*time.Second, func() { n.mu.Lock(); n.cond.Broadcast(); n.mu.Unlock() })
		defer t.Stop()
		for n.commit < idx && n.term == term && n.role == leader && time.Now().Before(deadline) {
			n.cond.Wait()
		}
		if n.commit < idx || len(n.log) <= idx || n.log[idx].Term != term {
			http.Error(w, "not committed", http.StatusServiceUnavailable)
			return
		}
	}
	// KV_ACK=leader acknowledges here, before any follower has the entry.
	json.NewEncoder(w).Encode(map[string]any{"index": idx, "term": term})
}

func (n *node) handleGet(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role != leader {
		n.notLeader(w)
		return
	}
	if n.commit < len(n.log)-1 {
		http.Error(w, "leader has uncommitted entries; retry", http.StatusServiceUnavailable)
		return
	}
	v, ok := n.kv[r.FormValue("key")]
	json.NewEncoder(w).Encode(map[string]any{"value": v, "found": ok})
}

func (n *node) handleStatus(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{
		"id": n.id, "role": n.role.String(), "term": n.term, "leader": n.leaderID,
		"commit": n.commit, "last": len(n.log) - 1,
	})
}
