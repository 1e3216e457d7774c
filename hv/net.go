package hv

import (
	"fmt"
	"net/netip"

	"github.com/mvrun/multiverse/hv/kernel"
	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/vfs"
	"github.com/mvrun/multiverse/internal/seeds"
)

// Single-process runs are one host on a network of their own, named as
// uname reported before there was a network, with an address from
// TEST-NET-1 (RFC 5737) so nothing mistakes it for a real one.
const singleHostName = "hv"

var singleHostAddr = netip.MustParseAddr("192.0.2.1")

// nodeNetwork creates the network of a single-process run and writes
// /etc/hosts and friends into fs. attach hashes the network's events into
// the process's trace once the kernel exists.
func nodeNetwork(seed uint64, fs *vfs.FS) (host *netsim.Host, attach func(*kernel.Kernel), err error) {
	var k *kernel.Kernel
	nw := netsim.New(netsim.Config{
		Seed: seeds.Derive(seed, "hv/net"),
		Trace: func(kind byte, words ...uint64) {
			if k != nil {
				k.TraceNet(kind, words...)
			}
		},
	})
	if host, err = nw.AddHost(singleHostName, singleHostAddr); err != nil {
		return nil, nil, fmt.Errorf("hv: network: %w", err)
	}
	if err := kernel.WriteNetworkFiles(fs, host); err != nil {
		return nil, nil, fmt.Errorf("hv: %w", err)
	}
	return host, func(kk *kernel.Kernel) { k = kk }, nil
}
