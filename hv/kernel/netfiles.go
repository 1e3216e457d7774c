package kernel

import (
	"fmt"
	"strings"

	"github.com/mvrun/multiverse/hv/netsim"
	"github.com/mvrun/multiverse/hv/vfs"
)

// WriteNetworkFiles writes the files a node's resolver reads into fs, the
// way Docker does for a container: /etc/hosts (every host of self's
// network by name), /etc/hostname, and /etc/resolv.conf naming a
// loopback nameserver nobody listens on, so a DNS query fails at once with
// ECONNREFUSED instead of waiting. /etc/nsswitch.conf ("hosts: files dns")
// is written only if the file system has none, so Go's pure-Go resolver
// reads /etc/hosts first.
func WriteNetworkFiles(fs *vfs.FS, self *netsim.Host) error {
	if _, err := fs.MkdirAll("/etc"); err != nil {
		return fmt.Errorf("network files: %w", err)
	}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, h := range self.Network().Hosts() {
		for _, a := range h.Addrs() {
			fmt.Fprintf(&hosts, "%s\t%s\n", a, h.Name())
		}
	}
	files := []struct {
		path, data string
		keep       bool // keep an existing file
	}{
		{"/etc/hosts", hosts.String(), false},
		{"/etc/hostname", self.Name() + "\n", false},
		{"/etc/resolv.conf", "# mvrun hv: no DNS server; names resolve from /etc/hosts\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n", false},
		{"/etc/nsswitch.conf", "hosts: files dns\n", true},
	}
	for _, f := range files {
		if f.keep {
			if _, err := fs.Lookup(fs.Root(), f.path, true); err == nil {
				continue
			}
		}
		if err := fs.WriteFile(f.path, []byte(f.data), 0o644); err != nil {
			return fmt.Errorf("network files: write %s: %w", f.path, err)
		}
	}
	return nil
}
