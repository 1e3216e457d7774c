package network

import (
	"net/netip"
	"strings"
	"testing"
)

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
