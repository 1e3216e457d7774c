// Command storage exercises etcd's storage stack without any socket: the
// write-ahead log (server/v3/wal: an OFD lock, a 64 MB fallocate, fdatasync,
// a directory rename) and the bbolt backend (server/v3/mvcc/backend: flock, a
// read-only MAP_SHARED|MAP_POPULATE mapping of the database file that must
// stay coherent with pwrite, fdatasync), with the code and defaults etcd's
// server uses. It lets hv's file-system support for etcd be checked while
// sockets are not there yet, and its summary depends only on the data.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/raft/v3/raftpb"
	"go.etcd.io/etcd/server/v3/mvcc/backend"
	"go.etcd.io/etcd/server/v3/mvcc/buckets"
	"go.etcd.io/etcd/server/v3/wal"
	"go.etcd.io/etcd/server/v3/wal/walpb"
	"go.uber.org/zap"
)

func main() {
	dir := flag.String("dir", "storage-data", "directory for the WAL and the database (created; must not exist)")
	n := flag.Int("n", 100, "number of WAL entries and database keys")
	mmap := flag.Uint64("mmap-size", backend.InitialMmapSize, "bbolt mapping size (etcd: 1.1 × --quota-backend-bytes, or 10 GiB by default)")
	flag.Parse()
	if err := run(*dir, *n, *mmap); err != nil {
		fmt.Fprintln(os.Stderr, "storage:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run(dir string, n int, mmapSize uint64) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := walRoundTrip(filepath.Join(dir, "wal"), n); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := backendRoundTrip(filepath.Join(dir, "db"), n, mmapSize); err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	return nil
}

func walRoundTrip(dir string, n int) error {
	lg := zap.NewNop()
	w, err := wal.Create(lg, dir, []byte("mvrun"))
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	var ents []raftpb.Entry
	for i := 1; i <= n; i++ {
		ents = append(ents, raftpb.Entry{Term: 1, Index: uint64(i), Data: fmt.Appendf(nil, "entry-%04d", i)})
	}
	st := raftpb.HardState{Term: 1, Vote: 1, Commit: uint64(n)}
	// One Save per entry, as raft does for small proposals: each one is a
	// write and an fdatasync.
	for i := range ents {
		if err := w.Save(st, ents[i:i+1]); err != nil {
			return fmt.Errorf("save %d: %w", i+1, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Printf("wal: saved %d entries\n", n)

	w, err = wal.Open(lg, dir, walpb.Snapshot{})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer w.Close()
	meta, hs, read, err := w.ReadAll()
	if err != nil {
		return fmt.Errorf("read all: %w", err)
	}
	for i := range read {
		if read[i].Index != ents[i].Index || !bytes.Equal(read[i].Data, ents[i].Data) {
			return fmt.Errorf("entry %d read back as index %d %q", i+1, read[i].Index, read[i].Data)
		}
	}
	fmt.Printf("wal: read back %d entries, metadata %q, term %d vote %d commit %d\n", len(read), meta, hs.Term, hs.Vote, hs.Commit)
	return nil
}

func backendRoundTrip(path string, n int, mmapSize uint64) error {
	open := func() backend.Backend {
		cfg := backend.DefaultBackendConfig()
		cfg.Path = path
		cfg.MmapSize = mmapSize
		cfg.Logger = zap.NewNop()
		return backend.New(cfg)
	}
	b := open()
	tx := b.BatchTx()
	tx.LockOutsideApply()
	tx.UnsafeCreateBucket(buckets.Test)
	for i := range n {
		tx.UnsafePut(buckets.Test, fmt.Appendf(nil, "key-%04d", i), fmt.Appendf(nil, "value-%04d", i))
	}
	tx.Unlock()
	b.ForceCommit()
	h, err := b.Hash(nil)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	fmt.Printf("backend: put %d keys, hash %08x\n", n, h)
	if err := b.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}

	// Reopen: the keys must come back from the file (through the mapping).
	b = open()
	defer b.Close()
	// The Test bucket is not a "safe range" bucket, so it is walked with
	// UnsafeForEach (UnsafeRange with an end key is for the key bucket).
	rtx := b.ReadTx()
	rtx.RLock()
	keys := 0
	err = rtx.UnsafeForEach(buckets.Test, func(k, v []byte) error {
		if want := fmt.Sprintf("value-%04d", keys); string(k) != fmt.Sprintf("key-%04d", keys) || string(v) != want {
			return fmt.Errorf("entry %d read back as %q=%q", keys, k, v)
		}
		keys++
		return nil
	})
	rtx.RUnlock()
	if err != nil {
		return err
	}
	h2, err := b.Hash(nil)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	fmt.Printf("backend: reopened, %d keys, hash %08x\n", keys, h2)
	if keys != n || h2 != h {
		return fmt.Errorf("reopened database has %d keys and hash %08x; want %d and %08x", keys, h2, n, h)
	}
	return nil
}
