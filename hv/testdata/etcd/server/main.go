// Command server is etcd's own server binary, unmodified: it only calls
// etcdmain.Main, the entry point of the published etcd executable, so hv runs
// the same code paths a production etcd v3.5 does (flags, raft, bbolt, WAL).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
