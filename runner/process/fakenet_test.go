package process

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/mvrun/multiverse/faults"
)

// fakeNet is a stand-in for runner/network used until it lands: one netns
// per node, veths to a bridge in a hub netns. No faults.
type fakeNet struct {
	prefix string
	index  int
	nodes  []string
	addrs  []string
}

func ipcmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func newFakeNet(cfg netConfig) (clusterNet, error) {
	f := &fakeNet{prefix: cfg.Prefix, index: cfg.Index}
	hub := f.prefix + "h"
	for _, a := range [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "add", "name", "br0", "type", "bridge"},
		{"-n", hub, "link", "set", "br0", "up"},
	} {
		if err := ipcmd(a...); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func (f *fakeNet) AddNode(name string) (netNode, error) {
	i := len(f.nodes)
	ns := fmt.Sprintf("%s-%d", f.prefix, i)
	hub := f.prefix + "h"
	addr := fmt.Sprintf("10.77.%d.%d", f.index%250, i+2)
	for _, a := range [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", "name", fmt.Sprintf("v%d", i), "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", hub, "link", "set", fmt.Sprintf("v%d", i), "master", "br0", "up"},
		{"-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	} {
		if err := ipcmd(a...); err != nil {
			return netNode{}, err
		}
	}
	f.nodes = append(f.nodes, name)
	f.addrs = append(f.addrs, addr)
	return netNode{Addr: addr, NetnsPath: "/run/netns/" + ns}, nil
}

func (f *fakeNet) Hosts() []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	for i, n := range f.nodes {
		fmt.Fprintf(&b, "%s\t%s\n", f.addrs[i], n)
	}
	return []byte(b.String())
}

func (f *fakeNet) Partition(p faults.Partition) error {
	return fmt.Errorf("fake network: no partitions")
}
func (f *fakeNet) Heal() error                 { return nil }
func (f *fakeNet) SetLink(l faults.Link) error { return nil }

func (f *fakeNet) Close() error {
	for i := range f.nodes {
		ipcmd("netns", "del", fmt.Sprintf("%s-%d", f.prefix, i))
	}
	return ipcmd("netns", "del", f.prefix+"h")
}

// sweepFakeNets removes fake network namespaces stale reports true for.
func sweepFakeNets(stale func(name string) bool) error {
	nss, _ := os.ReadDir("/run/netns")
	for _, ns := range nss {
		if stale(ns.Name()) {
			ipcmd("netns", "del", ns.Name())
		}
	}
	return nil
}
