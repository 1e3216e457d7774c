package faults

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzPlanDecode feeds arbitrary bytes to the fault-plan decoder (plans
// come back from disk for replays and moments). Decoding must fail or
// give a plan that validates or is refused by Validate, applies to a
// State without panicking, prints, and re-encodes to a fixed point.
func FuzzPlanDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/plan-*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"seed":"0x1","duration":"1s","actions":[{"at":"-5s","kind":"kill","nodes":["a","a"]}]}`))
	f.Add([]byte(`{"seed":"0x1","duration":"1s","actions":[{"at":"1ms","kind":"partition","partition":{"kind":"halves","groups":[[],["a"]]}}]}`))
	f.Add([]byte(`{"seed":"0x1","duration":"1s","actions":[{"at":"1ms","kind":"link","link":{"latency":"5s..1s","loss":2}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Plan
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		_ = p.Validate()
		s := NewState(p.Nodes)
		for _, a := range p.Actions {
			_ = a.String()
			_ = s.Apply(a)
		}
		_ = s.Recovery()
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("decoded plan does not encode: %v", err)
		}
		var q Plan
		if err := json.Unmarshal(enc, &q); err != nil {
			t.Fatalf("encoded plan does not decode: %v\n%s", err, enc)
		}
		enc2, err := json.Marshal(q)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}
