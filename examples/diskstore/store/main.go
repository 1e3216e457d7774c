// Command store is one shard of the diskstore example: a key-value store
// whose only durable state is a write-ahead log, wal.log, in its working
// directory. A put appends one record and fsyncs before acknowledging; a
// restart rebuilds the map from the log.
//
// With DS_FSYNC=ignore (the planted bug) a failed fsync is logged and the
// put acknowledged anyway. Since Linux 4.13 the kernel drops the dirty
// pages whose writeback failed, so the record is gone from the file and
// the next successful fsync does not bring it back: an acknowledged write
// vanishes at the next restart. With DS_FSYNC=check a put whose fsync
// fails is refused, the log is cut back to its last synced length, and
// the record is applied only after a successful fsync.
package main

import (
	"bufio"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mvrun/multiverse/sdk/assert"
	"github.com/mvrun/multiverse/sdk/lifecycle"
)

type store struct {
	mu     sync.Mutex
	wal    *os.File
	synced int64 // log length at the last successful fsync
	data   map[string]string
	ignore bool
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	s := &store{data: map[string]string{}, ignore: os.Getenv("DS_FSYNC") == "ignore"}
	if err := s.load(); err != nil {
		log.Fatalf("store: loading wal.log: %v", err)
	}
	http.HandleFunc("/put", s.put)
	http.HandleFunc("/get", s.get)
	addr := os.Getenv("DS_LISTEN")
	if addr == "" {
		addr = ":7100"
	}
	log.Printf("store: %d keys recovered, listening on %s", len(s.data), addr)
	lifecycle.SetupComplete(map[string]any{"keys": len(s.data)})
	log.Fatal(http.ListenAndServe(addr, nil))
}

// load replays the log; a torn last record (no newline) is cut off.
func (s *store) load() error {
	f, err := os.OpenFile("wal.log", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var good int64
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF, possibly after a torn record
		}
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if !ok {
			break
		}
		s.data[k] = v
		good += int64(len(line))
	}
	// Cut a torn tail and make that durable before serving. A failed fsync
	// drops the truncation with the other dirty data, so both are retried.
	for {
		if err := f.Truncate(good); err != nil {
			return err
		}
		err := f.Sync()
		if err == nil {
			break
		}
		log.Printf("store: fsync at recovery failed, retrying: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := f.Seek(good, 0); err != nil {
		return err
	}
	s.wal, s.synced = f, good
	if d, err := os.Open("."); err == nil {
		d.Sync() // make wal.log's directory entry durable
		d.Close()
	}
	return nil
}

func (s *store) put(w http.ResponseWriter, r *http.Request) {
	k, v := r.FormValue("key"), r.FormValue("value")
	if k == "" || strings.ContainsAny(k+v, "=\n") {
		http.Error(w, "bad key or value", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := k + "=" + v + "\n"
	if _, err := s.wal.WriteString(rec); err != nil {
		// A short or failed write: cut the log back and refuse.
		s.wal.Truncate(s.synced)
		s.wal.Seek(s.synced, 0)
		http.Error(w, "write: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := s.wal.Sync(); err != nil {
		assert.Reachable("a put meets a failed fsync", nil)
		if s.ignore {
			// BUG: the record may not be on disk, and a retried fsync
			// would not put it there; acknowledging it is a lie.
			log.Printf("store: fsync failed (ignored): %v", err)
		} else {
			s.wal.Truncate(s.synced)
			s.wal.Seek(s.synced, 0)
			http.Error(w, "fsync: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	end, _ := s.wal.Seek(0, 1)
	s.synced = end
	s.data[k] = v
	w.Write([]byte("ok\n"))
}

func (s *store) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, ok := s.data[r.FormValue("key")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(v))
}
