package random

import (
	"bytes"
	"math/rand"
	randv2 "math/rand/v2"
	"strings"
	"testing"
)

func TestParseSeed(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"42", 42, true},
		{"0x2a", 42, true},
		{"0X2A", 42, true},
		{"0x5eed00000000beef", 0x5eed00000000beef, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{" 7 ", 7, true},
		{"", 0, false},
		{"-1", 0, false},
		{"0x", 0, false},
		{"seed", 0, false},
		{"18446744073709551616", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSeed(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSeed(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func draws(g interface{ Uint64() uint64 }, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = g.Uint64()
	}
	return out
}

func TestSeededGeneratorReplays(t *testing.T) {
	var stderr bytes.Buffer
	a := draws(newGenerator("0x10", &stderr), 8)
	b := draws(newGenerator("16", &stderr), 8)
	c := draws(newGenerator("17", &stderr), 8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different draw %d: %x vs %x", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("seeds 16 and 17 draw the same values")
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestBadSeedIsReported(t *testing.T) {
	var stderr bytes.Buffer
	if g := newGenerator("nope", &stderr); g != nil {
		t.Fatal("a malformed seed gave a seeded generator")
	}
	if !strings.HasPrefix(stderr.String(), "mvrun-sdk: MVRUN_SEED: ") {
		t.Errorf("stderr %q", stderr.String())
	}
	if g := newGenerator("", &stderr); g != nil {
		t.Fatal("no seed gave a seeded generator")
	}
}

func TestRandomChoice(t *testing.T) {
	if got, ok := RandomChoice([]string(nil)); got != "" || ok {
		t.Errorf("empty: %q, %t; want \"\", false", got, ok)
	}
	if got, ok := RandomChoice([]int{7}); got != 7 || !ok {
		t.Errorf("single: %d, %t; want 7, true", got, ok)
	}
	// A zero element is a real choice, told from "empty" by ok.
	if got, ok := RandomChoice([]int{0}); got != 0 || !ok {
		t.Errorf("single zero: %d, %t; want 0, true", got, ok)
	}
	counts := map[int]int{}
	things := []int{0, 1, 2, 3, 4}
	for i := 0; i < 500; i++ {
		v, ok := RandomChoice(things)
		if !ok {
			t.Fatal("RandomChoice of 5 things returned ok=false")
		}
		counts[v]++
	}
	for _, th := range things {
		if counts[th] == 0 {
			t.Errorf("%d never chosen in 500 draws", th)
		}
	}
}

func TestSourceFitsBothRandPackages(t *testing.T) {
	r1 := rand.New(Source())
	r2 := randv2.New(Source())
	if n := r1.Int63(); n < 0 {
		t.Errorf("math/rand Int63 = %d", n)
	}
	if n := r2.IntN(10); n < 0 || n >= 10 {
		t.Errorf("math/rand/v2 IntN(10) = %d", n)
	}
}
