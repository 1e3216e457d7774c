package network

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/internal/seeds"
)

func TestDecideRates(t *testing.T) {
	const n = 20000
	tests := []struct {
		name string
		link faults.Link
	}{
		{"clean", faults.Link{}},
		{"loss", faults.Link{Loss: 0.25}},
		{"all", faults.Link{Loss: 0.1, Duplicate: 0.2, Reorder: 0.3,
			Latency: faults.Range{Min: time.Millisecond, Max: 5 * time.Millisecond}}},
		{"total loss", faults.Link{Loss: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := seeds.Stream(7, "network/a")
			var lost, dup, reord int
			for range n {
				f := decide(r, &tt.link)
				if f.drop != "" {
					lost++
					continue
				}
				if f.copies == 2 {
					dup++
				}
				if f.reordered {
					reord++
				}
				lo, hi := tt.link.Latency.Min, tt.link.Latency.Max
				if f.reordered {
					lo += ReorderHold
					hi += ReorderHold + tt.link.Latency.Max
				}
				if f.delay < lo || f.delay > hi {
					t.Fatalf("delay %v outside %v..%v", f.delay, lo, hi)
				}
			}
			delivered := n - lost
			check := func(what string, got, of int, p float64) {
				t.Helper()
				if of == 0 {
					return
				}
				// Five standard deviations of a binomial: fails by chance
				// about once in 3.5 million runs, and the seed is fixed.
				tol := 5*math.Sqrt(float64(of)*p*(1-p)) + 1
				if math.Abs(float64(got)-p*float64(of)) > tol {
					t.Errorf("%s: %d of %d, want about %.0f (p=%v)", what, got, of, p*float64(of), p)
				}
			}
			check("lost", lost, n, tt.link.Loss)
			check("duplicated", dup, delivered, tt.link.Duplicate)
			check("reordered", reord, delivered, tt.link.Reorder)
		})
	}
}

func TestDecideDeterministic(t *testing.T) {
	l := faults.Link{Loss: 0.3, Duplicate: 0.3, Reorder: 0.3, Latency: faults.Range{Max: time.Second}}
	a, b, c := seeds.Stream(1, "network/x"), seeds.Stream(1, "network/x"), seeds.Stream(2, "network/x")
	differ := false
	for i := range 1000 {
		fa, fb, fc := decide(a, &l), decide(b, &l), decide(c, &l)
		if fa != fb {
			t.Fatalf("frame %d: same seed gave %+v and %+v", i, fa, fb)
		}
		differ = differ || fa != fc
	}
	if !differ {
		t.Fatal("seeds 1 and 2 gave the same 1000 decisions")
	}
	// Settings must not shift later draws: a clean link in between
	// consumes as much of the stream as a faulty one.
	x, y := seeds.Stream(3, "network/x"), seeds.Stream(3, "network/x")
	decide(x, &faults.Link{})
	decide(y, &l)
	if fx, fy := decide(x, &l), decide(y, &l); fx != fy {
		t.Fatalf("second decision depends on the first's link settings: %+v vs %+v", fx, fy)
	}
}

func TestNewChecksConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Prefix: "mv1", Subnet: netip.MustParsePrefix("10.77.3.0/24")}, ""},
		{"empty prefix", Config{Subnet: netip.MustParsePrefix("10.77.3.0/24")}, "want 1 to"},
		{"long prefix", Config{Prefix: "mvmvmvmvmvmv", Subnet: netip.MustParsePrefix("10.77.3.0/24")}, "want 1 to"},
		{"bad prefix", Config{Prefix: "mv/x", Subnet: netip.MustParsePrefix("10.77.3.0/24")}, "only letters"},
		{"no subnet", Config{Prefix: "mv1"}, "want an IPv4 prefix"},
		{"ipv6", Config{Prefix: "mv1", Subnet: netip.MustParsePrefix("fd00::/64")}, "want an IPv4 prefix"},
		{"tiny", Config{Prefix: "mv1", Subnet: netip.MustParsePrefix("10.0.0.0/31")}, "too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if err := n.Close(); err != nil {
					t.Fatalf("Close of an empty network: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAddrsAndMACs(t *testing.T) {
	n, err := New(Config{Prefix: "mv1", Subnet: netip.MustParsePrefix("10.77.3.9/29")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		idx  int
		want string // "" means no room
	}{{0, "10.77.3.10"}, {1, "10.77.3.11"}, {4, "10.77.3.14"}, {5, ""}}
	for _, tt := range tests {
		a, err := n.addrOf(tt.idx)
		if tt.want == "" {
			if err == nil {
				t.Errorf("addrOf(%d) = %v, want an error (broadcast address)", tt.idx, a)
			}
			continue
		}
		if err != nil || a.String() != tt.want {
			t.Errorf("addrOf(%d) = %v, %v; want %s", tt.idx, a, err, tt.want)
		}
	}
	mac := macOf(netip.MustParseAddr("10.77.3.2"))
	if mac != [6]byte{2, 0, 10, 77, 3, 2} || mac[0]&1 != 0 {
		t.Errorf("macOf(10.77.3.2) = %x, want a locally administered unicast 02:00:0a:4d:03:02", mac)
	}
}

func TestCheckLink(t *testing.T) {
	tests := []struct {
		link faults.Link
		ok   bool
	}{
		{faults.Link{}, true},
		{faults.Link{Loss: 1, Duplicate: 1, Reorder: 1}, true},
		{faults.Link{Loss: -0.1}, false},
		{faults.Link{Duplicate: 1.5}, false},
		{faults.Link{Reorder: math.NaN()}, false},
		{faults.Link{Latency: faults.Range{Min: 2, Max: 1}}, false},
		{faults.Link{Latency: faults.Range{Min: -1, Max: 1}}, false},
	}
	for _, tt := range tests {
		if err := checkLink(tt.link); (err == nil) != tt.ok {
			t.Errorf("checkLink(%+v) = %v, want ok=%v", tt.link, err, tt.ok)
		}
	}
}
