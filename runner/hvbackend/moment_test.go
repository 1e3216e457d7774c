package hvbackend

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mvrun/multiverse/runner/backendtest"
)

// TestMoment replays a two-node echo cluster with a moment: the capture
// holds the packets sent up to it (a TCP exchange whose payload is in the
// pcapng, readable by a pcap reader) and a node's files as they were then,
// and the observed run has the trace hash of the unobserved one.
func TestMoment(t *testing.T) {
	needKVM(t)
	run := func(m *Moment) uint64 {
		test := backendtest.NewTest([]string{"alpha", "beta"})
		h := backendtest.Boot(t, context.Background(), New(Options{Moment: m}), test)
		h.WaitServing(t, 60*time.Second)
		if reply, errs := h.Dial(t, "tcp", "alpha", "beta", "hello-from-the-past"); !strings.Contains(reply, "hello-from-the-past") {
			t.Fatalf("dial: %q %s", reply, errs)
		}
		if err := h.Cluster.Sleep(context.Background(), 2*time.Second); err != nil {
			t.Fatal(err)
		}
		// A message after the moment must not be in the capture.
		h.Dial(t, "tcp", "alpha", "beta", "from-the-future")
		c := h.Cluster.(*cluster)
		hash := c.TraceHash()
		if err := h.Cluster.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	plain := run(nil)
	dir := t.TempDir()
	var mu sync.Mutex
	var lines []string
	m := &Moment{At: 1500 * time.Millisecond, Pcap: filepath.Join(dir, "cap.pcapng"), Files: []string{"beta:/"}, OutDir: dir,
		Report: func(l string, failed bool) {
			mu.Lock()
			defer mu.Unlock()
			if failed {
				t.Errorf("capture failed: %s", l)
			}
			lines = append(lines, l)
		}}
	observed := run(m)
	if observed != plain {
		t.Errorf("observed run: trace hash %016x, unobserved %016x", observed, plain)
	}
	if len(lines) != 2 {
		t.Fatalf("capture report: %q", lines)
	}
	f, err := os.Open(m.Pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var payload strings.Builder
	packets := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		packets++
		if ci.Timestamp.Sub(epoch) > m.At {
			t.Errorf("packet at %v, after the moment", ci.Timestamp.Sub(epoch))
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if tcp, ok := p.TransportLayer().(*layers.TCP); ok {
			payload.Write(tcp.Payload)
		}
	}
	if !strings.Contains(payload.String(), "hello-from-the-past") || strings.Contains(payload.String(), "from-the-future") {
		t.Errorf("%d packets; TCP payloads %q: want the first message and not the second", packets, payload.String())
	}
	// beta's service counted its start in a file in its working directory.
	if b, err := os.ReadFile(filepath.Join(dir, "0x0000000000005eed", "beta", "starts")); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("beta's starts file at the moment: %q, %v", b, err)
	}
}
