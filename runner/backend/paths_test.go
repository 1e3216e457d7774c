package backend

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mvrun/multiverse/specs"
)

// TestListHostTemplates lays out a template directory as a harness image
// has it and checks what becomes a command, what is ignored and what is an
// error.
func TestListHostTemplates(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "opt", "antithesis", "test", "v1")
	write := func(rel string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a/first_setup", 0o755)
	write("a/parallel_driver_load", 0o755)
	write("a/helper_lib.sh", 0o755)
	write("a/README", 0o644)
	write("b/finally_check", 0o755)
	write("b/eventually_converge", 0o755)
	write("b/anytime_probe", 0o755)
	write("b/serial_driver_x", 0o755)
	write("b/singleton_driver_y", 0o755)
	if err := os.WriteFile(filepath.Join(dir, "stray_file"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &specs.Service{Name: "client", Root: root}
	p, err := HostPath(s, "/opt/antithesis/test/v1", "")
	if err != nil || p != dir {
		t.Fatalf("HostPath = %q, %v; want %q", p, err, dir)
	}
	files, err := ListHostTemplates(p)
	if err != nil {
		t.Fatal(err)
	}
	tpls, ignored, err := specs.BuildTemplates("client", "/opt/antithesis/test/v1", files)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, tp := range tpls {
		for _, c := range tp.Commands {
			got[tp.Name] = append(got[tp.Name], string(c.Role)+" "+c.Name+" "+c.Argv[0])
		}
	}
	want := map[string][]string{
		"a": {"first a.first_setup /opt/antithesis/test/v1/a/first_setup",
			"parallel_driver a.parallel_driver_load /opt/antithesis/test/v1/a/parallel_driver_load"},
		"b": {"anytime b.anytime_probe /opt/antithesis/test/v1/b/anytime_probe",
			"eventually b.eventually_converge /opt/antithesis/test/v1/b/eventually_converge",
			"finally b.finally_check /opt/antithesis/test/v1/b/finally_check",
			"serial_driver b.serial_driver_x /opt/antithesis/test/v1/b/serial_driver_x",
			"singleton_driver b.singleton_driver_y /opt/antithesis/test/v1/b/singleton_driver_y"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("templates:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(ignored, []string{"a/README", "a/helper_lib.sh"}) {
		t.Errorf("ignored = %v", ignored)
	}

	write("a/finally_not_executable", 0o644)
	files, _ = ListHostTemplates(p)
	if _, _, err := specs.BuildTemplates("client", "/opt/antithesis/test/v1", files); err == nil {
		t.Error("a command file without an execute bit was accepted")
	}
}

// TestSeedMounts checks the per-seed volume layout: named volumes shared
// by name, writable bind mounts copied, read-only ones used in place.
func TestSeedMounts(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &specs.Project{Services: []*specs.Service{
		{Name: "a", Mounts: []specs.Mount{
			{Type: specs.MountBind, Source: host, Target: "/rw"},
			{Type: specs.MountVolume, Source: "v", Target: "/v"},
			{Type: specs.MountTmpfs, Target: "/t"},
		}},
		{Name: "b", Mounts: []specs.Mount{
			{Type: specs.MountBind, Source: host, Target: "/ro", ReadOnly: true},
			{Type: specs.MountBind, Source: host, Target: "/rw"},
			{Type: specs.MountVolume, Source: "v", Target: "/v", ReadOnly: true},
			{Type: specs.MountVolume, Target: "/anon"},
		}},
	}}
	seed := t.TempDir()
	got, err := SeedMounts(p, seed, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(seed, VolumesDir)
	copyDir := filepath.Join(vol, "bind", host[1:])
	want := map[string][]HostMount{
		"a": {{Source: copyDir, Target: "/rw"}, {Source: filepath.Join(vol, "v"), Target: "/v"}, {Target: "/t", Tmpfs: true}},
		"b": {{Source: host, Target: "/ro", ReadOnly: true}, {Source: copyDir, Target: "/rw"},
			{Source: filepath.Join(vol, "v"), Target: "/v", ReadOnly: true}, {Source: filepath.Join(vol, "anonymous", "b", "3"), Target: "/anon"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SeedMounts:\n got %+v\nwant %+v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(copyDir, "f")); err != nil || string(b) != "host" {
		t.Errorf("the writable bind copy holds %q, %v", b, err)
	}
}

func TestAddAliases(t *testing.T) {
	p := &specs.Project{Services: []*specs.Service{{Name: "etcd0", ContainerName: "node-zero"}, {Name: "x"}}}
	got := string(AddAliases([]byte("127.0.0.1\tlocalhost\n10.0.0.2\tetcd0\n10.0.0.3\tx\n"), p))
	want := "127.0.0.1\tlocalhost\n10.0.0.2\tetcd0\n10.0.0.3\tx\n10.0.0.2\tnode-zero\n"
	if got != want {
		t.Errorf("AddAliases = %q, want %q", got, want)
	}
}
