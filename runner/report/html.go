package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
)

// HTMLFile is the page [WriteHTML] writes.
const HTMLFile = "index.html"

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"type":  typeText,
	"json": func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"seeds": func(ss []string) string { return seedList(ss, 20) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mvrun: {{.Test}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.fail { color: #b00020; font-weight: bold; }
.pass { color: #1b7a1b; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.5em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>mvrun: test {{.Test}}</h1>
<p>Backend <code>{{.Backend}}</code>, base seed <code>{{.BaseSeed}}</code>, {{.SeedsRun}} of {{.SeedsPlanned}} seeds run{{if .Cancelled}} (interrupted){{end}}.
Spec <code>{{.Spec}}</code>; artifacts in <code>{{.Artifacts}}</code>.</p>
<p class="{{if .Passed}}pass{{else}}fail{{end}}">{{if .Passed}}PASS{{else}}FAIL{{end}}</p>
<h2>Properties</h2>
<table>
<tr><th>Property</th><th>Type</th><th>Verdict</th><th>Hits true/false</th><th>Failing seeds</th><th>Passing seeds</th></tr>
{{range $i, $p := .Properties}}<tr><td>{{if ne .Verdict "pass"}}<a href="#p{{$i}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td><td>{{type .}}</td><td class="{{.Verdict}}">{{upper .Verdict}}</td><td>{{.Hits.True}}/{{.Hits.False}}</td><td>{{len .FailingSeeds}}</td><td>{{.PassingSeeds}}</td></tr>
{{end}}</table>
{{range $i, $p := .Properties}}{{if ne .Verdict "pass"}}
<h3 id="p{{$i}}" class="fail">{{upper .Verdict}} {{.ID}}</h3>
<p>{{.Reason}}</p>
{{with .Location}}<p>At <code>{{.File}}:{{.Line}}</code> {{.Function}}</p>{{end}}
{{with .FirstCounterexample}}<p>First counterexample: seed <code>{{.Seed}}</code>, node <code>{{.Node}}</code>{{if .Proc}}, command <code>{{.Proc}}</code>{{end}}.</p>
{{if .Details}}<pre>{{json .Details}}</pre>{{end}}{{end}}
{{if .FailingSeeds}}<p>Failing seeds: <code>{{seeds .FailingSeeds}}</code></p>{{end}}
{{if .Replay}}<p>Replay: <code>{{.Replay}}</code></p>{{end}}{{if .Visualization}}<p>History: <a href="{{.Visualization}}">porcupine visualization</a></p>{{end}}
{{end}}{{end}}
{{if .Unsupported}}<h2>Faults the backend could not inject</h2>
<ul>{{range .Unsupported}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Malformed}}<h2>Malformed SDK lines ({{.MalformedTotal}})</h2>
<table><tr><th>Seed</th><th>Node</th><th>Command</th><th>Line</th><th>Error</th><th>Text</th></tr>
{{range .Malformed}}<tr><td><code>{{.Seed}}</code></td><td>{{.Node}}</td><td>{{.Proc}}</td><td>{{.LineNo}}</td><td>{{.Error}}</td><td><code>{{.Text}}</code></td></tr>
{{end}}</table>{{end}}
{{if .Lost}}<h2>Lost SDK messages</h2>
<ul>{{range .Lost}}<li>seed <code>{{.Seed}}</code> node {{.Node}} {{.Proc}}: {{.Count}} lost: {{.Reason}}</li>{{end}}</ul>{{end}}
<h2>Seeds</h2>
<table><tr><th>Seed</th><th>Failing properties</th><th>Faults applied</th><th>Artifacts</th></tr>
{{range .Seeds}}<tr><td><code>{{.Seed}}</code>{{if .TimedOut}} (timed out){{end}}</td><td>{{if .Error}}<span class="fail">could not run: {{.Error}}</span>{{else}}{{range $i, $f := .Failing}}{{if $i}}, {{end}}{{$f}}{{end}}{{end}}</td><td>{{len .FaultLog}}</td><td><code>{{.Dir}}</code></td></tr>
{{end}}</table>
</body>
</html>
`))

// WriteHTML writes d as a single static page, dir/index.html.
func WriteHTML(dir string, d *Document) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, HTMLFile))
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := page.Execute(f, d); err != nil {
		f.Close()
		return fmt.Errorf("html report: %w", err)
	}
	return f.Close()
}
