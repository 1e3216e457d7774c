package runner

import (
	"os"
	"path/filepath"
	"testing"
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
