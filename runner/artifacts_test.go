package runner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvrun/multiverse/faults"
	"github.com/mvrun/multiverse/runner/backend"
	"github.com/mvrun/multiverse/specs"
)

// TestArtifactsCloseError checks that artifacts that could not be written
// are reported by close, not dropped.
func TestArtifactsCloseError(t *testing.T) {
	tests := []struct {
		name    string
		remove  bool
		wantErr bool
	}{
		{"written", false, false},
		{"directory gone", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "seed")
			a, err := newArtifacts(dir)
			if err != nil {
				t.Fatal(err)
			}
			a.note(0, "runner", "hello")
			if tt.remove {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			err = a.close()
			if (err != nil) != tt.wantErr {
				t.Fatalf("close() = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr {
				if _, err := os.Stat(filepath.Join(dir, TimelineFile)); err != nil {
					t.Errorf("no timeline: %v", err)
				}
			}
			if err := a.close(); err != nil {
				t.Errorf("second close() = %v, want nil", err)
			}
		})
	}
}

// TestTimelineJSON checks that timeline.jsonl holds every timeline entry in
// time order with the facts behind its text, which the HTML report draws.
func TestTimelineJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "seed")
	a, err := newArtifacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := &specs.Command{Role: specs.RoleParallelDriver, Name: "write", Service: "client"}
	a.phase(0, "faults")
	a.node(backend.Event{At: 2 * time.Second, Kind: backend.EventNodeExit, Node: "kv1", ExitCode: -1, Signal: "SIGKILL", Expected: true})
	a.node(backend.Event{At: time.Second, Kind: backend.EventNodeStart, Node: "kv1"})
	a.plan(time.Second, faults.Plan{Params: map[string]string{"kill": "on"}})
	a.fault(faults.Applied{At: 2 * time.Second, Action: faults.Action{Kind: faults.ActKill, Nodes: []string{"kv1"}}})
	a.cmdStart(3*time.Second, cmd, "0.1")
	a.cmdEnd(4*time.Second, cmd, "0.1", time.Second, "exit 1", "fail")
	a.sdk(backend.Event{At: 5 * time.Second, Kind: backend.EventSDK, Node: "client", Proc: "check", LineNo: 3,
		Line: []byte(`{"antithesis_assert":{"id":"x","message":"x","condition":false,"display_type":"Always","hit":true,"must_hit":true,"assert_type":"always","location":{},"details":{"lost":2}}}`)})
	a.sdk(backend.Event{At: 5 * time.Second, Kind: backend.EventSDK, Node: "client", LineNo: 1,
		Line: []byte(`{"antithesis_assert":{"id":"x","message":"x","condition":false,"display_type":"Always","hit":false,"must_hit":true,"assert_type":"always","location":{},"details":null}}`)})
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, TimelineJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []TimelineRecord
	dec := json.NewDecoder(f)
	for dec.More() {
		var r TimelineRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	var kinds []string
	for i, r := range recs {
		kinds = append(kinds, r.Kind)
		if i > 0 && r.AtNS < recs[i-1].AtNS {
			t.Errorf("record %d at %d before record %d at %d", i, r.AtNS, i-1, recs[i-1].AtNS)
		}
		if r.Text == "" || r.Who == "" {
			t.Errorf("record %d has no text or who: %+v", i, r)
		}
	}
	want := []string{TLPhase, TLNode, TLPlan, TLNode, TLFault, TLCmdStart, TLCmdEnd, TLSDK, TLSDK}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	if r := recs[3]; r.Event != "exit" || r.Signal != "SIGKILL" || !r.Expected {
		t.Errorf("exit record = %+v", r)
	}
	if r := recs[2]; r.Params["kill"] != "on" {
		t.Errorf("plan record = %+v", r)
	}
	if r := recs[4]; r.Action == nil || r.Action.Kind != faults.ActKill || r.Outcome != "ok" {
		t.Errorf("fault record = %+v", r)
	}
	if r := recs[6]; r.Command != "write" || r.Run != "0.1" || r.Result != "fail" || r.TookNS != int64(time.Second) {
		t.Errorf("command end record = %+v", r)
	}
	if r := recs[7]; r.Proc != "check" || r.LineNo != 3 || !strings.Contains(string(r.Assert), `"lost":2`) {
		t.Errorf("assertion record = %+v", r)
	}
	if r := recs[8]; r.Assert != nil {
		t.Errorf("a catalog entry is not an evaluation, but its record carries it: %+v", r)
	}
	if got := a.faultParams(); got["kill"] != "on" {
		t.Errorf("faultParams() = %v", got)
	}
}
