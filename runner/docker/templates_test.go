package docker

import (
	"archive/tar"
	"bytes"
	"reflect"
	"testing"

	"github.com/mvrun/multiverse/specs"
)

// TestTemplateEntries reads a tar stream shaped like the engine's copy of
// /opt/antithesis/test/v1: files, a directory, and links to executables
// and to a plain file.
func TestTemplateEntries(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "v1/", Typeflag: tar.TypeDir, Mode: 0o755})
	add(&tar.Header{Name: "v1/main/", Typeflag: tar.TypeDir, Mode: 0o755})
	add(&tar.Header{Name: "v1/main/first_a", Typeflag: tar.TypeReg, Mode: 0o755})
	add(&tar.Header{Name: "v1/main/helper_b", Typeflag: tar.TypeReg, Mode: 0o644})
	add(&tar.Header{Name: "v1/main/sub/", Typeflag: tar.TypeDir, Mode: 0o755})
	add(&tar.Header{Name: "v1/main/finally_c", Typeflag: tar.TypeSymlink, Linkname: "first_a"})
	add(&tar.Header{Name: "v1/main/anytime_d", Typeflag: tar.TypeSymlink, Linkname: "helper_b"})
	add(&tar.Header{Name: "v1/main/eventually_e", Typeflag: tar.TypeLink, Linkname: "v1/main/first_a"})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := templateEntries(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.TemplateFile{
		{Template: "main", Name: "first_a", Executable: true},
		{Template: "main", Name: "helper_b"},
		{Template: "main", Name: "sub", Dir: true},
		{Template: "main", Name: "finally_c", Executable: true},
		{Template: "main", Name: "anytime_d"},
		{Template: "main", Name: "eventually_e", Executable: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("templateEntries:\n got %+v\nwant %+v", got, want)
	}
}

func TestNumericRoot(t *testing.T) {
	for in, want := range map[string]string{"": "", "root": "0", "root:root": "0:0", "1000:root": "1000:0", "app": "app", "0:5": "0:5"} {
		if got := numericRoot(in); got != want {
			t.Errorf("numericRoot(%q) = %q, want %q", in, got, want)
		}
	}
}
