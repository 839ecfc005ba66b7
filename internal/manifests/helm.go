package manifests

// A directory with a Chart.yaml is rendered as `helm template` renders it,
// with the Helm SDK (helm.sh/helm/v4): the same chart loader, values
// coalescing, schema validation, template engine and manifest sorter that
// `helm template` runs (pkg/action.Install with DryRun and ClientOnly). We
// call those packages in the order action.Install does rather than
// pkg/action itself: pkg/action and pkg/cli/values import the Kubernetes
// client, OCI registry and SQL storage stacks (kubectl, cli-runtime, oras,
// lib/pq, ...), which `helm template` never uses offline and which this
// module does not carry.
//
// Nothing here touches the network: dependencies come only from the chart's
// own charts/ directory, values files only from local paths, and the
// engine's `lookup` has no cluster to ask, exactly as in `helm template`.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// Environment variables that set how a chart is rendered.
const (
	EnvRelease   = "MANIFESTS_RELEASE"   // release name (default todo-app), as helm template NAME
	EnvNamespace = "MANIFESTS_NAMESPACE" // release namespace (default todo-app), as --namespace
	EnvValues    = "MANIFESTS_VALUES"    // comma-separated values files, as -f a.yaml -f b.yaml
	EnvSet       = "MANIFESTS_SET"       // key=value overrides, as one --set argument (a=1,b=2)
)

// Defaults of the settings: the app's own release and namespace.
const (
	DefaultRelease   = "todo-app"
	DefaultNamespace = "todo-app"
)

// HelmSettings are the `helm template` settings a chart is rendered with.
// The zero value renders with the defaults above.
type HelmSettings struct {
	Release     string
	Namespace   string
	ValuesFiles []string // -f, in order: later files win
	Set         []string // --set arguments, in order, applied after the values files
	KubeVersion string   // --kube-version; empty: the target version (internal/kubeversion)
}

// HelmSettingsFromEnv reads the MANIFESTS_* variables above. Relative values
// files are taken from the repository root, as MANIFESTS_DIR is. Malformed
// settings are errors naming the variable; a value given to --set is never
// echoed, since it may be a credential.
func HelmSettingsFromEnv() (HelmSettings, error) {
	s := HelmSettings{
		Release:   strings.TrimSpace(os.Getenv(EnvRelease)),
		Namespace: strings.TrimSpace(os.Getenv(EnvNamespace)),
	}
	// One target version for every tier: K8S_VERSION sets the render's
	// .Capabilities.KubeVersion as it sets the served APIs and the cluster.
	target, err := kubeversion.Target()
	if err != nil {
		return HelmSettings{}, fmt.Errorf("manifests: %w", err)
	}
	s.KubeVersion = target.Version
	if set := os.Getenv(EnvSet); strings.TrimSpace(set) != "" {
		// One --set argument: helm's own parser splits it on commas and
		// honours its escapes (\,) and list syntax ({a,b}).
		s.Set = []string{set}
	}
	if raw := os.Getenv(EnvValues); strings.TrimSpace(raw) != "" {
		root, err := ModuleRoot()
		if err != nil {
			return HelmSettings{}, fmt.Errorf("manifests: %s: %w", EnvValues, err)
		}
		for i, f := range strings.Split(raw, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				return HelmSettings{}, fmt.Errorf("manifests: %s=%q: entry %d is empty (want comma-separated values files, e.g. a.yaml,b.yaml)", EnvValues, raw, i+1)
			}
			if !isRemote(f) && f != "-" && !filepath.IsAbs(f) {
				f = filepath.Join(root, f)
			}
			s.ValuesFiles = append(s.ValuesFiles, f)
		}
	}
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return HelmSettings{}, err
	}
	return s, nil
}

func (s HelmSettings) withDefaults() HelmSettings {
	if s.Release == "" {
		s.Release = DefaultRelease
	}
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	if s.KubeVersion == "" {
		s.KubeVersion = kubeversion.Default.Version
	}
	return s
}

// validate refuses what helm would refuse later with a vaguer message, and
// what helm would try to fetch (a values file given as a URL, or stdin).
func (s HelmSettings) validate() error {
	if err := chartutil.ValidateReleaseName(s.Release); err != nil {
		return fmt.Errorf("manifests: release name (%s) %q: %v", EnvRelease, s.Release, err)
	}
	if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
		return fmt.Errorf("manifests: namespace (%s) %q is not a valid namespace name: %s", EnvNamespace, s.Namespace, strings.Join(errs, "; "))
	}
	for _, f := range s.ValuesFiles {
		switch {
		case f == "-":
			return fmt.Errorf("manifests: values file (%s) \"-\": values are not read from stdin; name a file", EnvValues)
		case isRemote(f):
			return fmt.Errorf("manifests: values file (%s) %s is a URL: values files are read only from local paths, nothing is downloaded", EnvValues, f)
		}
	}
	for _, set := range s.Set {
		if _, err := strvals.Parse(set); err != nil {
			return fmt.Errorf("manifests: --set overrides (%s) are malformed: %v (want key=value[,key=value], as helm --set)", EnvSet, err)
		}
	}
	if _, err := common.ParseKubeVersion(s.KubeVersion); err != nil {
		return fmt.Errorf("manifests: Kubernetes version (%s) %q: %v", kubeversion.Env, s.KubeVersion, err)
	}
	return nil
}

// isRemote reports whether a values file is named by URL (https://, oci://,
// file://...). A Windows drive letter is not a scheme.
func isRemote(f string) bool {
	u, err := url.Parse(f)
	return err == nil && len(u.Scheme) > 1
}

// RenderedDoc is one document a renderer produced, and where it came from
// (a chart's template path, or a kustomize resource's origin).
type RenderedDoc struct {
	Source string
	YAML   []byte
}

// chartIn reports whether dir holds a Helm chart.
func chartIn(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && st.Mode().IsRegular()
}

// chartRender is what `helm install` creates and stores for a chart.
type chartRender struct {
	// Docs are the release's objects: CRDs from crds/, then every
	// manifest in install order.
	Docs []RenderedDoc
	// Hooks are the hook and test documents (helm.sh/hook), which helm
	// install creates around the release and, without a delete policy,
	// leaves in the cluster.
	Hooks []RenderedHook
	// Notes are the rendered NOTES.txt files: helm install prints the
	// chart's and stores it in the release.
	Notes []RenderedDoc
	// Values are what the release Secret stores besides the manifest: the
	// user's values, and each chart's own values.yaml.
	Values []ValuesSource
	// Lookups name the templates that called `lookup`, which returned
	// nothing: the render is offline, as `helm template` renders.
	Lookups []string
}

// RenderedHook is one hook or test document and what Helm reads of it.
type RenderedHook struct {
	RenderedDoc
	Kind, Name     string
	Events         []string // hook phases (pre-install, test, ...)
	DeletePolicies []string // helm.sh/hook-delete-policy
}

// ValuesSource is one map of values a release stores, and where it is from.
type ValuesSource struct {
	Source string // "values.yaml of chart demo", or the user's settings
	Values map[string]any
}

// userValuesSource names the user's values (-f files, then --set).
const userValuesSource = "user values (" + EnvValues + " files and " + EnvSet + ")"

// renderChart renders the chart in dir as `helm template` would, within the
// render limits (helm_limits.go). CRDs in crds/ are part of Docs (helm
// install installs them; helm template prints them with --include-crds).
func renderChart(dir string, s HelmSettings) (*chartRender, error) {
	s = s.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	fail := func(format string, a ...any) (*chartRender, error) {
		return nil, fmt.Errorf("manifests: chart %s: "+format, append([]any{dir}, a...)...)
	}

	vals, err := mergeValues(s)
	if err != nil {
		return fail("%v", err)
	}
	// The chart loader refuses irregular files and files over
	// MaxDecompressedFileSize (5 MiB) itself.
	chrt, err := chartloader.Load(dir)
	if err != nil {
		return fail("cannot load the chart: %v", err)
	}
	if t := chrt.Metadata.Type; t != "" && t != "application" {
		return fail("%s charts are not installable (helm template refuses them too)", t)
	}
	if missing := missingDependencies(chrt); len(missing) > 0 {
		return fail("dependencies listed in Chart.yaml but missing from charts/: %s. Dependencies are never downloaded: vendor them into %s (helm dependency build, then keep charts/)",
			strings.Join(missing, ", "), filepath.Join(dir, "charts")+string(filepath.Separator))
	}
	if err := chartutil.ProcessDependencies(chrt, vals); err != nil {
		return fail("dependencies: %v", err)
	}
	out := &chartRender{Values: []ValuesSource{{Source: userValuesSource, Values: vals}}}
	out.Values = append(out.Values, chartValues(chrt)...)
	redact := newValueRedactor(out.Values)

	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(s.KubeVersion)
	if err != nil {
		return fail("%v", err) // validate checked it already
	}
	caps.KubeVersion = *kv
	if c := chrt.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return fail("chart requires kubeVersion %s, which is incompatible with Kubernetes %s, the target version (set %s)", c, caps.KubeVersion.String(), kubeversion.Env)
	}
	if err := schemasAreLocal(chrt); err != nil {
		return fail("%v", err)
	}
	options := common.ReleaseOptions{Name: s.Release, Namespace: s.Namespace, Revision: 1, IsInstall: true}
	renderVals, err := commonutil.ToRenderValuesWithSchemaValidation(chrt, vals, options, caps, false)
	if err != nil {
		return fail("values: %s", redact(redactSchemaValues(strings.TrimSpace(err.Error()))))
	}

	files, lookups, err := boundedRender(chrt, renderVals)
	if err != nil {
		// Helm's message starts with the template path and line
		// ("template: todo-app/templates/x.yaml:3:5: ..."). It may quote a
		// value (a chart's fail message, tpl's template text): redacted.
		return fail("render: %s", redact(redactTplText(err.Error())))
	}
	out.Lookups = lookups
	if err := checkRenderSize(files); err != nil {
		return fail("%v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") {
			if strings.TrimSpace(files[name]) != "" {
				out.Notes = append(out.Notes, RenderedDoc{Source: name, YAML: []byte(files[name])})
			}
			delete(files, name)
		}
	}
	hs, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		// "YAML parse error on todo-app/templates/x.yaml: ..."
		return fail("rendered output: %s", redact(err.Error()))
	}

	for _, crd := range chrt.CRDObjects() {
		out.Docs = append(out.Docs, splitDocs(crd.Filename, string(crd.File.Data))...)
	}
	for _, m := range manifests {
		out.Docs = append(out.Docs, RenderedDoc{Source: m.Name, YAML: []byte(m.Content)})
	}
	for _, h := range hs {
		rh := RenderedHook{RenderedDoc: RenderedDoc{Source: h.Path, YAML: []byte(h.Manifest)}, Kind: h.Kind, Name: h.Name}
		for _, e := range h.Events {
			rh.Events = append(rh.Events, e.String())
		}
		for _, p := range h.DeletePolicies {
			rh.DeletePolicies = append(rh.DeletePolicies, string(p))
		}
		out.Hooks = append(out.Hooks, rh)
	}
	if n := len(out.Docs) + len(out.Hooks); n > MaxRenderObjects {
		return fail("renders %d objects, over %d, the render object limit (a real install of this app has about ten)", n, MaxRenderObjects)
	}
	return out, nil
}

// boundedRender runs Helm's engine (the zero Engine `helm template` uses
// without --validate: no cluster, so `lookup` finds nothing) within the
// render limits, watched by the watchdog (helm_limits.go).
func boundedRender(chrt *chart.Chart, vals common.Values) (map[string]string, []string, error) {
	return boundedRenderExit(chrt, vals, exitForLimit)
}

func boundedRenderExit(chrt *chart.Chart, vals common.Values, exit func(string)) (map[string]string, []string, error) {
	b := newRenderBudget()
	b.order = instrument(chrt)
	e := engine.Engine{CustomTemplateFuncs: b.boundedFuncs()}
	done := make(chan struct{})
	go b.watch(func(b *renderBudget) string {
		return fmt.Sprintf("chart %s: render: template %s: in a loop or recursion without a function call", chrt.ChartFullPath(), b.current())
	}, done, exit)
	files, err := e.RenderWithContext(context.Background(), chrt, vals)
	close(done)
	b.mu.Lock()
	breach, lookups := b.breach, b.lookups
	b.mu.Unlock()
	if breach != nil {
		return nil, nil, breach
	}
	if err != nil {
		return nil, nil, err
	}
	return files, lookups, nil
}

// checkRenderSize measures the rendered files before anything sorts or
// decodes them: each document at most MaxFileBytes (the API server's request
// limit), all of them at most MaxRenderBytes and MaxRenderObjects documents.
func checkRenderSize(files map[string]string) error {
	total, docs := 0, 0
	for _, name := range slices.Sorted(maps.Keys(files)) {
		content := files[name]
		total += len(content)
		if total > MaxRenderBytes {
			return fmt.Errorf("template %s: the rendered files reach %d bytes, over %d MiB, the render size limit", name, total, MaxRenderBytes>>20)
		}
		for _, doc := range releaseutil.SplitManifests(content) {
			if len(doc) > MaxFileBytes {
				return fmt.Errorf("template %s renders a document of %d bytes, over %d MiB, the API server's request limit (no such object can be applied)", name, len(doc), MaxFileBytes>>20)
			}
			if strings.TrimSpace(doc) != "" {
				docs++
			}
		}
		if docs > MaxRenderObjects {
			return fmt.Errorf("template %s: the render reaches %d documents, over %d, the render object limit (this app installs about ten objects)", name, docs, MaxRenderObjects)
		}
	}
	return nil
}

// chartValues returns the values.yaml of the chart and of each vendored
// dependency, which the release stores with the chart.
func chartValues(c *chart.Chart) []ValuesSource {
	var out []ValuesSource
	if len(c.Values) > 0 {
		out = append(out, ValuesSource{Source: c.ChartFullPath() + "/values.yaml", Values: c.Values})
	}
	for _, d := range c.Dependencies() {
		out = append(out, chartValues(d)...)
	}
	return out
}

// tplText is tpl's part of an error: tpl quotes the text it renders
// ("cannot parse template \"...\"", "error during tpl function execution for
// \"...\"") and the parser's or executor's error after it quotes pieces of
// that text. The text is a value: all of it is dropped.
var tplText = regexp.MustCompile(`((?:cannot parse template|error during tpl function execution for) )"(?s:.*)`)

func redactTplText(msg string) string {
	return tplText.ReplaceAllString(msg, "${1}(template text from values, not shown, nor the error that quotes it)")
}

// minRedacted is the shortest value looked for in messages: shorter strings
// (true, 80, yes) are words of any message, and no credential.
const minRedacted = 5

// newValueRedactor returns a function that replaces, in a message, every
// string value of the given maps (and its base64 and quoted forms) with the
// path it was given at: a chart's fail or required message, or an error
// that quotes rendered text, may carry a value, and values may be
// credentials. Longer values are replaced first, so a value containing
// another is not half shown.
func newValueRedactor(sources []ValuesSource) func(string) string {
	type entry struct{ value, path string }
	var entries []entry
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(joinPath(prefix, k), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case string:
			for _, form := range []string{x, base64.StdEncoding.EncodeToString([]byte(x)), strconv.Quote(x)} {
				if len(strings.TrimSpace(form)) >= minRedacted && !seen[form] {
					seen[form] = true
					entries = append(entries, entry{form, prefix})
				}
			}
		}
	}
	for _, s := range sources {
		walk("", s.Values)
	}
	sort.Slice(entries, func(i, j int) bool { return len(entries[i].value) > len(entries[j].value) })
	return func(msg string) string {
		for _, e := range entries {
			if strings.Contains(msg, e.value) {
				msg = strings.ReplaceAll(msg, e.value, "<value of ."+"Values."+e.path+", not shown>")
			}
		}
		return msg
	}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// schemaValue is a value the schema validator quotes at the start of its
// message ("at '/backend/healthPath': 'VALUE' does not match pattern '^/'",
// "'VALUE' is not valid 'email'"): a value given with -f or --set, which may
// be a credential and is never echoed.
var schemaValue = regexp.MustCompile(`(at '(?:[^'\\]|\\.)*': )'(?:[^'\\]|\\.)*'`)

func redactSchemaValues(msg string) string {
	return schemaValue.ReplaceAllString(msg, "${1}the value (not shown)")
}

// schemasAreLocal refuses a values.schema.json (of the chart or a vendored
// dependency) that Helm's validator would complete over the network: its
// loader fetches http(s) references and unknown $schema meta-schemas. Only
// in-document references (#/...) and the JSON Schema drafts the validator
// has built in are accepted; anything else must be inlined into the chart.
func schemasAreLocal(c *chart.Chart) error {
	if len(c.Schema) > 0 {
		var doc any
		// A schema that is not JSON is left to Helm, which names it.
		if json.Unmarshal(c.Schema, &doc) == nil {
			if ref := remoteReference(doc); ref != "" {
				return fmt.Errorf("%s/values.schema.json refers to %s: schemas are never fetched; inline it (only #/... references are read)", c.ChartFullPath(), ref)
			}
		}
	}
	for _, d := range c.Dependencies() {
		if err := schemasAreLocal(d); err != nil {
			return err
		}
	}
	return nil
}

// builtinDrafts are the meta-schemas Helm's validator (santhosh-tekuri/
// jsonschema v6) knows without loading them.
var builtinDrafts = regexp.MustCompile(`^https?://json-schema\.org/(schema|draft/2020-12/schema|draft/2019-09/schema|draft-07/schema|draft-06/schema|draft-04/schema)#?$`)

func remoteReference(node any) string {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if s, ok := v.(string); ok {
				switch k {
				case "$schema":
					if !builtinDrafts.MatchString(s) {
						return s
					}
				case "$ref", "$dynamicRef", "$recursiveRef":
					if !strings.HasPrefix(s, "#") && !strings.HasPrefix(s, "urn:") {
						return s
					}
				}
			}
			if r := remoteReference(v); r != "" {
				return r
			}
		}
	case []any:
		for _, v := range n {
			if r := remoteReference(v); r != "" {
				return r
			}
		}
	}
	return ""
}

// mergeValues merges the values files in order, then the --set arguments,
// as helm's pkg/cli/values.Options.MergeValues does (-f files merged map by
// map, later files winning; --set parsed into the result). The chart's own
// values.yaml is coalesced under these later, by chartutil.
func mergeValues(s HelmSettings) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range s.ValuesFiles {
		raw, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		current := map[string]any{}
		if err := yaml.Unmarshal(raw, &current); err != nil {
			return nil, fmt.Errorf("values file %s is not a YAML map: %v", f, err)
		}
		base = mergeMaps(base, current)
	}
	for _, set := range s.Set {
		if err := strvals.ParseInto(set, base); err != nil {
			return nil, fmt.Errorf("--set overrides (%s) are malformed: %v", EnvSet, err)
		}
	}
	return base, nil
}

// readValuesFile reads a local regular file, capped at the size Helm's chart
// loader allows for any file of a chart.
func readValuesFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer forever; on a regular file the flag changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("values file %s is not a regular file (%s)", path, st.Mode().Type())
	}
	limit := archive.MaxDecompressedFileSize
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("values file %s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("values file %s is larger than %d bytes, the limit Helm's chart loader sets for a chart file", path, limit)
	}
	return raw, nil
}

// mergeMaps is helm's pkg/cli/values mergeMaps: b's keys win, nested maps
// merge.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if v, ok := v.(map[string]any); ok {
			if bv, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(bv, v)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// missingDependencies is action.CheckDependencies: every dependency in
// Chart.yaml must be a chart loaded from charts/ (a directory or a .tgz).
func missingDependencies(c *chart.Chart) []string {
	var missing []string
	for _, req := range c.Metadata.Dependencies {
		found := false
		for _, d := range c.Dependencies() {
			if d.Name() == req.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, req.Name)
		}
	}
	return missing
}

// splitDocs splits a multi-document file (a CRD file is copied verbatim) in
// file order.
func splitDocs(source, content string) []RenderedDoc {
	split := releaseutil.SplitManifests(content)
	keys := make([]string, 0, len(split))
	for k := range split {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var docs []RenderedDoc
	for _, k := range keys {
		if strings.TrimSpace(split[k]) != "" {
			docs = append(docs, RenderedDoc{Source: source, YAML: []byte(split[k])})
		}
	}
	return docs
}
