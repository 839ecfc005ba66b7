package report

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

func win(w spec.Window) Window { return Window{Min: w.Earliest, Max: w.Latest} }

// sampleRun is a report with the shape and numbers of a full multi-node run
// on this machine (3 m 17 s; backend startup kill measured at 59 s), one
// probe miss drawn against the manifest's own window and one outcome never
// observed.
func sampleRun() *Report {
	clock := newClock()
	r := newAt(clock.now)
	at := func(d time.Duration) time.Time { return clock.t.Add(d) }
	phase := func(name string, d time.Duration) { clock.advance(d); r.Phase(name, d) }
	phase("preflight", 400*time.Millisecond)
	phase("stub images", 2100*time.Millisecond)
	phase("node image", 300*time.Millisecond)
	phase("cluster create", 47*time.Second)
	phase("node Ready", 13*time.Second)
	phase("CoreDNS Available", 5*time.Second)
	phase("image load", 9*time.Second)
	lanes := clock.t
	r.FloorAlso("longest probe window", spec.Seed.LongestWindow())

	checks := []struct {
		id, verdict string
		d           time.Duration
		m           []string
	}{
		{"L-APPLY", Pass, 1200 * time.Millisecond, []string{"server-side dry-run then apply: 7/7 objects"}},
		{"L-ROLLOUT", Pass, 41 * time.Second, []string{"backend: 2 -> 2, ready >= 2 and pods <= 3 on 38 pod events", "frontend: 2 -> 2, ready >= 2 and pods <= 3 on 31 pod events"}},
		{"L-TRAFFIC", Pass, 44 * time.Second, []string{"backend-service: 812 requests / 0 failed", "frontend-service (NodePort): 790 requests / 0 failed", "zero failures rest on the stub's 3 s SIGTERM drain; the manifests have no preStop hook"}},
		{"L-ENV", Pass, 2 * time.Second, []string{"ConfigMap 6/6 values, Secret 5/5 key names present (values not read)"}},
		{"L-QOS", Pass, 300 * time.Millisecond, []string{"4 pods Burstable"}},
		{"L-DNS", Pass, 3100 * time.Millisecond, []string{"backend-service and backend-service.todo-app.svc.cluster.local -> 10.96.41.7", "GET /api/health through the name: 200"}},
		{"L-INTERNAL", Pass, 1100 * time.Millisecond, []string{"backend closed on 127.0.0.1 and 5 node addresses; control 30000 reachable"}},
		{"L-NODEPORT", Fail, 12 * time.Second, []string{"localhost:30000: 7/20 consecutive requests succeeded; request 8: connection reset"}},
		{"L-STARTUP", Pass, 71 * time.Second, []string{"4 scenarios in their windows"}},
		{"L-LIVENESS", Fail, 88 * time.Second, []string{"MISS frontend hang: restart at 47.2s, outside the seed's window"}},
		{"L-READINESS", Pass, 24 * time.Second, []string{"2 scenarios in their windows"}},
		{"L-SCALE", Pass, 38 * time.Second, []string{"backend 3/3 and frontend 2/2 Ready"}},
		{"L-LB", Pass, 9 * time.Second, []string{"300 requests reached 3/3 backend replicas (97/104/99)"}},
		{"L-PVC", Pass, 52 * time.Second, []string{"emptyDir file lost with its pod", "PV Bound, file survived pod deletion", "claim deleted: PV Released for 10s, policy Retain, file still on the node"}},
	}
	r.Describe(func(h *Header) {
		h.SuiteRevision = "18998d9"
		h.Manifests = []ManifestsUnderTest{{Path: "manifests/base", Profile: "default", GitRevision: "18998d9", Digest: "9f2c", Objects: 7, Applied: true}}
		h.ServerVersion, h.NodeImage, h.Topology = "v1.33.1", "kind-node:v1.33.1", "5 nodes: 1 control plane, 4 workers (multi-node.yaml)"
	})
	for _, c := range checks {
		r.Start(c.id)
		for _, m := range c.m {
			r.Measure(c.id, "%s", m)
		}
		r.check(c.id).Duration = c.d
		r.check(c.id).Verdict = c.verdict
	}
	r.Start("L-SCALE")
	r.Miss("L-SCALE", Miss{Code: CodeCapacity, Resource: "pod backend-7c9", Text: "Pending: 0/5 nodes are available: Insufficient cpu"})
	r.Conclude("L-SCALE", Outcome{Failed: true, Steps: 2, Ran: 1})
	r.RunError("teardown", CodeTeardown, errors.New("kind delete cluster: exit status 1"))

	b, f := spec.Seed.Backend.Deployment.Container, spec.Seed.Frontend.Deployment.Container
	missOwn := win(spec.Probe{InitialDelaySeconds: 20, PeriodSeconds: 15, FailureThreshold: 3, TimeoutSeconds: 3}.DetectionWindow(true))
	for _, p := range []ProbeMeasurement{
		{ID: "L-STARTUP", Scenario: "startup-ok backend", Measured: 41 * time.Second, Seed: Window{Max: b.Startup.GuaranteedStartup()}, Pass: true},
		{ID: "L-STARTUP", Scenario: "startup-ok frontend", Measured: 21 * time.Second, Seed: Window{Max: f.Startup.GuaranteedStartup()}, Pass: true},
		{ID: "L-STARTUP", Scenario: "startup-kill backend", Measured: 59 * time.Second, Seed: win(b.Startup.KillWindow()), Pass: true},
		{ID: "L-STARTUP", Scenario: "startup-kill frontend", Measured: 29600 * time.Millisecond, Seed: win(f.Startup.KillWindow()), Pass: true},
		{ID: "L-LIVENESS", Scenario: "liveness-fail backend", Measured: 24300 * time.Millisecond, Seed: win(b.Liveness.DetectionWindow(false)), Pass: true},
		{ID: "L-LIVENESS", Scenario: "liveness-hang backend", Measured: 33800 * time.Millisecond, Seed: win(b.Liveness.DetectionWindow(true)), Pass: true},
		{ID: "L-LIVENESS", Scenario: "liveness-fail frontend", Measured: 0, Missing: true, Seed: win(f.Liveness.DetectionWindow(false)), Pass: false, Note: "no restart seen in 4m0s"},
		{ID: "L-LIVENESS", Scenario: "liveness-hang frontend", Measured: 47200 * time.Millisecond, Seed: win(f.Liveness.DetectionWindow(true)), Manifest: &missOwn, Pass: false},
		{ID: "L-READINESS", Scenario: "readiness backend", Measured: 7400 * time.Millisecond, Seed: win(b.Readiness.DetectionWindow(false)), Pass: true},
		{ID: "L-READINESS", Scenario: "readiness frontend", Measured: 6900 * time.Millisecond, Seed: win(f.Readiness.DetectionWindow(false)), Pass: true},
	} {
		r.Probe(p)
	}
	r.Lane("todo-app checks", lanes, at(101*time.Second), "L-APPLY", "L-ROLLOUT", "L-TRAFFIC", "L-ENV", "L-QOS", "L-DNS", "L-INTERNAL", "L-NODEPORT")
	r.Lane("probe scenarios", lanes.Add(300*time.Millisecond), at(94*time.Second), "L-STARTUP", "L-LIVENESS", "L-READINESS")
	r.Lane("scale copy", lanes.Add(200*time.Millisecond), at(49*time.Second), "L-SCALE", "L-LB")
	r.Lane("storage copy", lanes.Add(400*time.Millisecond), at(53*time.Second), "L-PVC")
	clock.advance(12 * time.Second)
	r.Phase("apply -> Available", 12*time.Second)
	clock.advance(89 * time.Second)
	phase("teardown", 19*time.Second)
	r.Note("node image kindest-hermetic:3f2a91c0 (hermetic, present)")
	r.Note("cluster todoconf-4242-9c1e: 1 control plane + 4 workers")
	return r
}

func render(t *testing.T, r *Report) (string, *html.Node) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, r.renderHTML(&buf))
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	return buf.String(), doc
}

func hasClass(n *html.Node, class string) bool {
	for _, a := range n.Attr {
		if a.Key == "class" {
			for _, c := range strings.Fields(a.Val) {
				if c == class {
					return true
				}
			}
		}
	}
	return false
}

// find returns every element below n with the tag and, if given, the class.
func find(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && c.Data == tag && (class == "" || hasClass(c, class)) {
			out = append(out, c)
		}
	}
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func TestPageShowsEveryCheckLaneAndProbe(t *testing.T) {
	r := sampleRun()
	_, doc := render(t, r)
	checks := r.Checks()

	rows := find(doc, "tr", "check")
	require.Len(t, rows, len(checks), "one table row per check")
	for i, row := range rows {
		assert.Contains(t, text(row), checks[i].ID)
		assert.Contains(t, text(row), verdictText(checks[i].Verdict))
	}
	last := text(rows[len(rows)-1])
	assert.Contains(t, last, "teardown", "the run's error rows come last")
	assert.Contains(t, last, "ERROR")
	for i, c := range checks {
		assert.Contains(t, text(rows[i]), codeText(c.Code))
	}
	header := text(find(doc, "table", "")[0])
	for _, want := range []string{"started", "suite revision", "manifests", "Kubernetes server", "node image", "topology"} {
		assert.Contains(t, header, want, "the page opens with the run header")
	}

	s := r.snapshot()
	assert.Len(t, find(doc, "rect", "lane-bar"), len(s.Lanes), "one bar per lane")
	assert.Len(t, find(doc, "rect", "phase-bar"), len(s.Phases), "one bar per phase")

	probes := find(doc, "g", "probe")
	require.Len(t, probes, len(s.Probes), "one group per probe measurement")
	for i, g := range probes {
		p := s.Probes[i]
		assert.Len(t, find(g, "rect", "seed"), 1, "seed window of %s", p.Scenario)
		assert.Len(t, find(g, "path", "probe-marker"), 1, "marker of %s", p.Scenario)
		manifest := 0
		if p.Manifest != nil {
			manifest = 1
		}
		assert.Len(t, find(g, "rect", "manifest"), manifest, "manifest window of %s", p.Scenario)
		assert.Equal(t, p.Missing, len(find(g, "path", "missing")) == 1, p.Scenario)
		assert.Equal(t, !p.Pass, len(find(g, "path", "fail")) == 1, p.Scenario)
	}
	assert.Len(t, find(doc, "tr", "phase"), len(s.Phases))
}

// TestPageIsSelfContained: nothing the page shows comes from outside the file.
func TestPageIsSelfContained(t *testing.T) {
	raw, doc := render(t, sampleRun())
	for _, bad := range []string{"http://", "https://", "src=", "@import", "url("} {
		assert.NotContains(t, raw, bad)
	}
	for _, tag := range []string{"script", "link", "img", "iframe", "object", "embed"} {
		assert.Empty(t, find(doc, tag, ""), tag)
	}
	for n := range doc.Descendants() {
		for _, a := range n.Attr {
			assert.NotEqual(t, "href", a.Key, "link on <%s>", n.Data)
		}
	}
}

func TestPageEscapesRecordedText(t *testing.T) {
	r := New()
	hostile := `<script>alert(1)</script>`
	r.Start(hostile)
	r.Measure(hostile, `"><img src=x onerror=alert(2)>`)
	r.Miss(hostile, Miss{Code: CodeSpec, Resource: hostile, Text: "</td></tr></table><script>alert(3)</script>"})
	r.Conclude(hostile, Outcome{Failed: true, Steps: 1, Ran: 1})
	r.RunError("X", CodeTeardown, errors.New("</td></tr></table><script>alert(3)</script>"))
	r.Lane(`</text></svg><script>alert(4)</script>`, time.Now(), time.Now().Add(time.Second), hostile)
	r.Phase(`<b onmouseover=alert(5)>`, time.Second)
	r.Probe(ProbeMeasurement{ID: hostile, Scenario: `</title><script>alert(6)</script>`, Seed: Window{Max: time.Second}, Note: "<script>"})
	r.Note("<script>alert(7)</script>")
	raw, doc := render(t, r)
	assert.Empty(t, find(doc, "script", ""))
	assert.Empty(t, find(doc, "img", ""))
	assert.NotContains(t, raw, "<script>")
	assert.Contains(t, raw, "&lt;script&gt;alert(1)&lt;/script&gt;")
	for n := range doc.Descendants() {
		for _, a := range n.Attr {
			assert.False(t, strings.HasPrefix(a.Key, "on"), "event handler %s on <%s>", a.Key, n.Data)
		}
	}
	assert.Len(t, find(doc, "tr", "check"), 2)
}

func TestWriteHTMLReportsWriteErrors(t *testing.T) {
	err := New().WriteHTML(filepath.Join(t.TempDir(), "missing-dir", "report.html"))
	assert.ErrorContains(t, err, "write report page")
}

// TestSamplePage writes the sample run's page where REPORT_HTML_SAMPLE says,
// for a person to look at in a browser; without it the page goes to a
// temporary directory and is only checked to be written.
func TestSamplePage(t *testing.T) {
	path := os.Getenv("REPORT_HTML_SAMPLE")
	if path == "" {
		path = filepath.Join(t.TempDir(), "report.html")
	}
	require.NoError(t, sampleRun().WriteHTML(path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Positive(t, info.Size())
}

func TestLongLabelsAreClippedButKeptInTheTooltip(t *testing.T) {
	r := New()
	long := strings.Repeat("rolling updates under traffic ", 4)
	r.Phase(long, time.Second)
	_, doc := render(t, r)
	bars := find(doc, "g", "")
	var label, title string
	for _, g := range bars {
		if ts := find(g, "title", ""); len(ts) == 1 && strings.Contains(text(ts[0]), "phase rolling") {
			title = text(ts[0])
			label = text(find(g, "text", "")[0])
		}
	}
	assert.Contains(t, title, long)
	assert.Equal(t, labelRunes, len([]rune(label)))
	assert.True(t, strings.HasSuffix(label, "…"))
}
