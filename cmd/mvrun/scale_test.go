package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// scaleDir holds the working files docs/scale.md shows.
var scaleDir = filepath.Join("..", "..", "docs", "scale")

// flagsOf returns the flags `mvrun <cmd...> -h` documents.
func flagsOf(t *testing.T, cmd ...string) map[string]bool {
	t.Helper()
	_, _, stderr := mvrun(append(cmd, "-h")...)
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`).FindAllStringSubmatch(stderr, -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("mvrun %s -h lists no flags:\n%s", strings.Join(cmd, " "), stderr)
	}
	return flags
}

// invocations returns every mvrun command line in a shell script, with
// backslash continuations joined, as words.
func invocations(script string) [][]string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(script, "\n") {
		words := strings.Fields(line)
		for i, w := range words {
			// The binary followed by a subcommand (not `go build -o mvrun`).
			if (w == "mvrun" || strings.HasSuffix(w, "/mvrun")) && i+1 < len(words) && !strings.HasPrefix(words[i+1], ".") {
				out = append(out, words[i:])
				break
			}
		}
	}
	return out
}

// checkFlags fails the test for a flag the command does not have, and
// returns the flags used.
func checkFlags(t *testing.T, where string, words []string) map[string]bool {
	t.Helper()
	var cmd []string
	switch {
	case len(words) > 1 && words[1] == "test":
		cmd = []string{"test"}
	case len(words) > 2 && words[1] == "report" && words[2] == "merge":
		cmd = []string{"report", "merge"}
	default:
		t.Errorf("%s: mvrun command %q is not test or report merge", where, strings.Join(words, " "))
		return nil
	}
	known := flagsOf(t, cmd...)
	used := map[string]bool{}
	for _, w := range words {
		if name, ok := strings.CutPrefix(w, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			used[name] = true
			if !known[name] {
				t.Errorf("%s: mvrun %s has no flag --%s", where, strings.Join(cmd, " "), name)
			}
		}
	}
	return used
}

func decodeYAML(t *testing.T, name string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(scaleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not valid YAML: %v", name, err)
		}
		docs = append(docs, d)
	}
	return docs
}

// at walks a decoded YAML value along keys (strings) and indices (ints).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestGitHubActionsWorkflow(t *testing.T) {
	docs := decodeYAML(t, "github-actions.yml")
	if len(docs) != 1 {
		t.Fatalf("%d YAML documents, want 1", len(docs))
	}
	wf := docs[0]
	shards, err := strconv.Atoi(at(wf, "env", "SHARDS").(string))
	if err != nil {
		t.Fatal(err)
	}
	matrix, _ := at(wf, "jobs", "shard", "strategy", "matrix", "shard").([]any)
	if len(matrix) != shards {
		t.Errorf("matrix has %d shards, env SHARDS says %d", len(matrix), shards)
	}
	for i, v := range matrix {
		if v != i+1 {
			t.Errorf("matrix shard %d is %v: shards are 1..N", i, v)
		}
	}
	if needs := at(wf, "jobs", "merge", "needs"); needs != "shard" {
		t.Errorf("merge job needs %v, want the shard job", needs)
	}
	used := map[string]map[string]bool{}
	for _, job := range []string{"shard", "merge"} {
		steps, _ := at(wf, "jobs", job, "steps").([]any)
		for i, s := range steps {
			run, _ := at(s, "run").(string)
			for _, words := range invocations(run) {
				for f := range checkFlags(t, job+" step "+strconv.Itoa(i), words) {
					if used[job] == nil {
						used[job] = map[string]bool{}
					}
					used[job][f] = true
				}
			}
		}
	}
	for _, f := range []string{"shard", "seed", "json", "seeds"} {
		if !used["shard"][f] {
			t.Errorf("the shard job does not pass --%s", f)
		}
	}
	if !used["merge"]["html"] || !used["merge"]["junit"] {
		t.Errorf("the merge job does not write the HTML and JUnit reports: %v", used["merge"])
	}
	if _, err := os.Stat(filepath.Join("..", "..", "examples", "kvstore", "spec.hcl")); err != nil || at(wf, "env", "SPEC") != "examples/kvstore/spec.hcl" {
		t.Errorf("the workflow's spec %v does not exist: %v", at(wf, "env", "SPEC"), err)
	}
}

func TestKubernetesIndexedJob(t *testing.T) {
	docs := decodeYAML(t, "k8s-job.yaml")
	var indexed, merge map[string]any
	for _, d := range docs {
		if d["kind"] != "Job" {
			continue
		}
		if at(d, "spec", "completionMode") == "Indexed" {
			indexed = d
		} else {
			merge = d
		}
	}
	if indexed == nil || merge == nil {
		t.Fatalf("want an Indexed Job and a merge Job, got %d documents", len(docs))
	}
	c := at(indexed, "spec", "template", "spec", "containers", 0)
	env := map[string]string{}
	for _, e := range at(c, "env").([]any) {
		env[at(e, "name").(string)] = at(e, "value").(string)
	}
	if n, _ := strconv.Atoi(env["SHARDS"]); n != at(indexed, "spec", "completions") {
		t.Errorf("completions %v, SHARDS %q", at(indexed, "spec", "completions"), env["SHARDS"])
	}
	script := at(c, "args", 0).(string)
	if !strings.Contains(script, "JOB_COMPLETION_INDEX + 1") {
		t.Errorf("the shard does not come from JOB_COMPLETION_INDEX:\n%s", script)
	}
	inv := invocations(script)
	if len(inv) != 1 || !checkFlags(t, "indexed job", inv[0])["shard"] {
		t.Errorf("the indexed job does not run one sharded mvrun test:\n%s", script)
	}
	minv := invocations(at(merge, "spec", "template", "spec", "containers", 0, "args", 0).(string))
	if len(minv) != 1 || !checkFlags(t, "merge job", minv[0])["html"] {
		t.Errorf("the merge job does not run mvrun report merge --html: %v", minv)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(scaleDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go build -o (\S+) (\./\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("the Dockerfile builds no mvrun")
	}
	if _, err := os.Stat(filepath.Join("..", "..", m[2], "main.go")); err != nil {
		t.Errorf("the Dockerfile builds %s, which is not a main package here: %v", m[2], err)
	}
	if !strings.Contains(string(b), "COPY --from=build "+m[1]+" /usr/local/bin/mvrun") {
		t.Errorf("the image does not install the binary it builds (%s) as mvrun", m[1])
	}
}
