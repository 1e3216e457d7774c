package report

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mvrun/multiverse/runner"
	"github.com/mvrun/multiverse/runner/process"
	"github.com/mvrun/multiverse/specs"
)

// loadTimes turns on the 200-seed page-load measurement: a measurement for
// docs/report.md, not a check, since load times on a shared machine say
// little about the code.
var loadTimes = flag.Bool("loadtimes", false, "also measure page load times of a 200-seed report (TestBrowser)")

var screenshots = flag.String("screenshots", os.Getenv("MVRUN_TEST_ARTIFACTS"),
	"directory for the browser test's screenshots (default $MVRUN_TEST_ARTIFACTS, else a temporary directory)")

func TestMain(m *testing.M) {
	process.MaybeRunShim() // the process backend's nodes re-exec this test binary as their init shim
	os.Exit(m.Run())
}

// chromium returns the path of a Chromium or Chrome binary, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("skipping: no chromium in PATH (apt-get install chromium)")
	return ""
}

// kvstoreRun runs the kvstore example for two short seeds on the process
// backend and returns its document; it skips where that backend cannot run.
func kvstoreRun(t *testing.T) *Document {
	t.Helper()
	ctx := context.Background()
	b := process.New(process.Options{})
	if err := b.Available(ctx); err != nil {
		t.Skipf("skipping: the process backend is not available here: %v", err)
	}
	s, err := specs.Load(ctx, "../../examples/kvstore/spec.hcl")
	if err != nil {
		t.Fatal(err)
	}
	test := s.Tests[0]
	// Three 12-second seeds: long enough that the planted bug usually
	// shows in one of them (the process backend's timing is not the
	// seed's, so not always); the checks that need a failing seed say when
	// none failed.
	test.Duration = 12 * time.Second
	oc, err := runner.Run(ctx, runner.Options{Test: test, Backend: b, Count: 3, BaseSeed: 0x5eed, Jobs: 2, OutDir: t.TempDir()})
	if err != nil {
		t.Fatalf("runner.Run: %v", err)
	}
	if err := process.Leftovers(b.RunID()); err != nil {
		t.Errorf("left behind: %v", err)
	}
	return FromOutcome(oc, Options{Spec: "examples/kvstore/spec.hcl", ReplayFlags: []string{"--backend", "process"}})
}

// browser starts headless Chromium and returns a context for chromedp
// actions and a function returning the console errors and uncaught
// exceptions seen so far.
func browser(t *testing.T, exe string) (context.Context, func() []string) {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000),
		chromedp.Flag("allow-file-access-from-files", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	var mu sync.Mutex
	var errs []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				errs = append(errs, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
			errs = append(errs, fmt.Sprintf("exception: %s at %s:%d", msg, ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				errs = append(errs, fmt.Sprintf("log: %s %s", ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	// chromedp enables the Runtime and Log domains itself.
	if err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
}

// eval evaluates a script in the page and returns its JSON result as T.
func eval[T any](t *testing.T, ctx context.Context, script string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		t.Fatalf("evaluating %.80q: %v", script, err)
	}
	return v
}

// do runs browser steps.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// TestBrowser renders the report of a real kvstore run in headless
// Chromium: no console errors on any page, every seed page link from the
// run page lands on an element that exists, the timeline has a lane per
// node, the network and each workload command, with marks for assertions,
// and zoom, details on click and the log's filters work. It keeps a
// screenshot of each page type.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: runs the kvstore example and a browser")
	}
	exe := chromium(t)
	d := kvstoreRun(t)
	dir := filepath.Join(d.Artifacts, "html")
	if err := WriteHTMLWith(dir, d, HTMLOptions{AllSeeds: true}); err != nil {
		t.Fatal(err)
	}
	shots := *screenshots
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, consoleErrs := browser(t, exe)

	// The run page: every link to a seed page, with its fragment.
	do(t, ctx, chromedp.Navigate(fileURL(filepath.Join(dir, HTMLFile))), chromedp.WaitReady(chromedp.CSS("table.matrix")))
	links := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('a[href^="seed-"]')).map(a => a.getAttribute('href'))`)
	cells := eval[int](t, ctx, `document.querySelectorAll('table.matrix td.c').length`)
	failCells := eval[int](t, ctx, `document.querySelectorAll('table.matrix td.c.fail a').length`)
	if want := len(d.Seeds) * len(d.Properties); cells != want {
		t.Errorf("matrix has %d cells, want %d (seeds × properties)", cells, want)
	}
	wantFail := 0
	for _, p := range d.Properties {
		wantFail += len(p.FailingSeeds)
	}
	if failCells != wantFail {
		t.Errorf("matrix has %d failing cells with links, want %d", failCells, wantFail)
	}
	t.Logf("run page: %d seed page links, %d failing cells; failing properties: %d", len(links), failCells, wantFail)
	shoot(t, ctx, filepath.Join(shots, "report-run.png"), true)

	// Every link resolves: the page exists and the fragment names an element.
	byPage := map[string][]string{}
	for _, l := range links {
		page, frag, _ := strings.Cut(l, "#")
		byPage[page] = append(byPage[page], frag)
	}
	if len(byPage) != len(d.Seeds) {
		t.Errorf("run page links to %d seed pages, want %d", len(byPage), len(d.Seeds))
	}
	for _, page := range slices.Sorted(func(yield func(string) bool) {
		for p := range byPage {
			if !yield(p) {
				return
			}
		}
	}) {
		if _, err := os.Stat(filepath.Join(dir, page)); err != nil {
			t.Errorf("run page links to %s: %v", page, err)
			continue
		}
		for _, frag := range byPage[page] {
			if frag == "" {
				continue
			}
			do(t, ctx, chromedp.Navigate(fileURL(filepath.Join(dir, page))+"#"+frag), chromedp.WaitReady(chromedp.CSS("#tl")))
			found := eval[bool](t, ctx, fmt.Sprintf(`!!document.getElementById(%q)`, frag))
			if !found {
				t.Errorf("%s#%s: no element with that id", page, frag)
			}
		}
	}

	// A seed page: the first failing seed's if any, else the first.
	sd := &d.Seeds[0]
	for i := range d.Seeds {
		if len(d.Seeds[i].Failing) > 0 {
			sd = &d.Seeds[i]
			break
		}
	}
	page := fileURL(filepath.Join(dir, seedPageName(sd.Seed)))
	if len(sd.Failing) > 0 {
		page += "#" + propAnchor(sd.Failing[0])
	}
	do(t, ctx, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("#tl .lanelabel")))
	lanes := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#tl .lanelabel')).map(e => e.getAttribute('data-lane'))`)
	marks := eval[int](t, ctx, `document.querySelectorAll('#tl .mark').length`)
	jsonMarks := eval[int](t, ctx, `JSON.parse(document.getElementById('tldata').textContent).marks.length`)
	spans := eval[int](t, ctx, `document.querySelectorAll('#tl .span').length`)
	firstMarks := eval[int](t, ctx, `document.querySelectorAll('#tl .mark.first').length`)
	hl := eval[int](t, ctx, `document.querySelectorAll('#logt tr.hl').length`)
	rows := eval[int](t, ctx, `document.querySelectorAll('#logt tbody tr').length`)
	ticksJS := `Array.from(document.querySelectorAll('#tl .ticklbl')).map(e => e.textContent).join(' ')`
	ticks0 := eval[string](t, ctx, ticksJS)
	for _, want := range []string{"phases", "client", "kv1", "kv2", "kv3", "network", "write #0", "write #1", "check"} {
		if !slices.Contains(lanes, want) {
			t.Errorf("timeline lanes %q lack %q", lanes, want)
		}
	}
	if marks == 0 || marks != jsonMarks {
		t.Errorf("timeline draws %d marks, want the page's %d (and some)", marks, jsonMarks)
	}
	if spans < 4 {
		t.Errorf("timeline draws %d spans, want at least a node span per node", spans)
	}
	if rows == 0 {
		t.Error("the log is empty")
	}
	if len(sd.Failing) == 0 {
		t.Logf("no seed failed in this run: the checks of failing cells and first failing evaluations had nothing to check")
	} else {
		if firstMarks == 0 {
			t.Errorf("seed %s fails %q but its timeline marks no first failing evaluation", sd.Seed, sd.Failing)
		}
		if hl != 1 {
			t.Errorf("opening %s highlighted %d log lines, want the failing evaluation's", page, hl)
		}
	}
	t.Logf("seed page %s: lanes %q, %d marks, %d spans, %d log lines", sd.Seed, lanes, marks, spans, rows)
	shoot(t, ctx, filepath.Join(shots, "report-seed.png"), false)

	// Interactions: zoom in changes the axis; clicking a mark shows its
	// details; unticking a kind hides its log lines.
	do(t, ctx, chromedp.Click(chromedp.CSS(`.tlbar button[data-zoom="in"]`)))
	ticks1 := eval[string](t, ctx, ticksJS)
	do(t, ctx, chromedp.Click(chromedp.CSS(`.tlbar button[data-zoom="reset"]`)))
	detail := eval[string](t, ctx, `(() => {
		const m = document.querySelector('#tl .mark.first') || document.querySelector('#tl .mark');
		m.dispatchEvent(new MouseEvent('click', {bubbles: true}));
		const d = document.getElementById('detail');
		return d.hidden ? '' : d.querySelector('pre').textContent;
	})()`)
	shownSDK := eval[int](t, ctx, `(() => {
		const c = document.querySelector('.filters input[data-f="k"][value="sdk"]');
		c.checked = false;
		c.dispatchEvent(new Event('input'));
		return Array.from(document.querySelectorAll('#logt tbody tr[data-k="sdk"]')).filter(r => !r.hidden).length;
	})()`)
	if ticks0 == ticks1 {
		t.Errorf("zooming in left the axis as it was: %q", ticks0)
	}
	if detail == "" {
		t.Error("clicking a mark showed no details")
	}
	if len(sd.Failing) > 0 && !strings.Contains(detail, "FAILED") && !strings.Contains(detail, "crash") {
		t.Errorf("details of the first failing evaluation = %q", detail)
	}
	if shownSDK != 0 {
		t.Errorf("%d sdk log lines still shown after unticking sdk", shownSDK)
	}
	if errs := consoleErrs(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshots in %s", shots)

	t.Run("200 seeds", func(t *testing.T) {
		if !*loadTimes {
			t.Skip("skipping: a measurement; run with -loadtimes (docs/report.md)")
		}
		loadTime(t, ctx, consoleErrs, d)
	})
}

// loadTime writes the report of a 200-seed run made of the real run's
// seeds (each seed's record and artifacts stand in for 100 seeds) and
// measures how long its pages take to load.
func loadTime(t *testing.T, ctx context.Context, consoleErrs func() []string, d *Document) {
	big := *d
	big.Seeds = nil
	failing := map[string][]string{}
	for i := range 200 {
		sd := d.Seeds[i%len(d.Seeds)]
		sd.Seed = fmt.Sprintf("0x%016x", 0x1000+i)
		sd.Index = i
		for _, id := range sd.Failing {
			failing[id] = append(failing[id], sd.Seed)
		}
		big.Seeds = append(big.Seeds, sd)
	}
	big.Properties = slices.Clone(d.Properties)
	for i := range big.Properties {
		big.Properties[i].FailingSeeds = failing[big.Properties[i].ID]
	}
	big.SeedsRun, big.SeedsPlanned = 200, 200
	dir := filepath.Join(t.TempDir(), "html")
	start := time.Now()
	// Pages for the failing seeds, as a run writes them; for every seed
	// when none failed, so there is a seed page to measure.
	if err := WriteHTMLWith(dir, &big, HTMLOptions{AllSeeds: len(failing) == 0}); err != nil {
		t.Fatal(err)
	}
	gen := time.Since(start)
	measure := func(path string) float64 {
		do(t, ctx, chromedp.Navigate(fileURL(path)), chromedp.WaitReady(chromedp.CSS("body")))
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`performance.getEntriesByType('navigation')[0].loadEventEnd > 0`)); err != nil {
			t.Fatal(err)
		}
		return eval[float64](t, ctx, `(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()`)
	}
	runMS := measure(filepath.Join(dir, HTMLFile))
	seedMS := 0.0
	seedPage := ""
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "seed-") {
			seedPage = e.Name()
			seedMS = measure(filepath.Join(dir, e.Name()))
			break
		}
	}
	t.Logf("200 seeds: wrote %d files in %v; run page loads in %.0f ms, seed page %s in %.0f ms", len(ents), gen.Round(time.Millisecond), runMS, seedPage, seedMS)
	if errs := consoleErrs(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// shoot saves a PNG of the page: the whole page, or the first screenful.
func shoot(t *testing.T, ctx context.Context, path string, full bool) {
	t.Helper()
	eval[bool](t, ctx, `window.scrollTo(0, 0) === undefined`)
	act := chromedp.CaptureScreenshot()
	if full {
		act = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, act)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserDebugButtons checks, in Chromium, that an hv seed's log rows
// each get a button whose command opens the debugger at that row's
// timeline entry, and that clicking one raises no error.
func TestBrowserDebugButtons(t *testing.T) {
	exe := chromium(t)
	page, runs := debugLinkSeed(t, "77eda6d321fce931")
	ctx, consoleErrs := browser(t, exe)
	do(t, ctx, chromedp.Navigate(fileURL(page)))
	titles := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#logt button.go')).map(b => b.title)`)
	if len(titles) != 3 {
		t.Fatalf("%d debug buttons, want one per row (3): %q", len(titles), titles)
	}
	want := "copy: ./bin/mvrun debug examples/kv/spec.hcl --seed 0x0000000000005eed --test 'kv store' --runs " + runs + " --at event:2"
	if titles[1] != want {
		t.Errorf("the second row's button: %q, want %q", titles[1], want)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#L1 button.go`)))
	if errs := consoleErrs(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
