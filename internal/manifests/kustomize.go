package manifests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

// renderKustomization renders dir as `kubectl apply -k` does, with
// kustomize's library and its default options: load restrictions
// RootOnly (no file outside the kustomization's root), plugins disabled.
//
// A walk of the kustomization tree runs first (preflight): it refuses remote
// resources before krusty could fetch them, names missing or unreadable
// entries plainly, and decodes every resource file strictly so an unknown
// field is reported at its file and line.
func (l *loader) renderKustomization(dir string) ([]Object, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	pf := &preflight{l: l, included: map[string]string{}}
	if err := pf.walk(absDir, dir, nil); err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(absDir) // krusty's loader root is the real path
	if err != nil {
		return nil, openError(dir, err)
	}
	fsys := &boundedFS{FileSystem: filesys.MakeFsOnDisk(), root: root}
	m, err := boundedKrusty(fsys, absDir, kustomizationIn(dir), exitForLimit)
	if err != nil {
		return nil, pf.explain(dir, err)
	}
	if n := m.Size(); n > MaxRenderObjects {
		return nil, fmt.Errorf("manifests: kustomize build %s: builds %d objects, over %d, the render object limit (this app installs about ten)", kustomizationIn(dir), n, MaxRenderObjects)
	}
	if m.Size() == 0 {
		return nil, fmt.Errorf("manifests: %s lists no resources: the kustomization renders no objects (files beside it are read only when listed under resources:)", kustomizationIn(dir))
	}
	sources := make([]string, 0, m.Size())
	for _, r := range m.Resources() {
		sources = append(sources, l.originSource(dir, r))
	}
	if fsys.injected {
		if err := m.RemoveOriginAnnotations(); err != nil {
			return nil, fmt.Errorf("manifests: %s: %w", dir, err)
		}
	}
	var objs []Object
	total := 0
	for i, r := range m.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("manifests: %s: %s: %w", dir, sources[i], err)
		}
		// The render limits on what kustomize built (helm_limits.go).
		if total += len(js); total > MaxRenderBytes {
			return nil, fmt.Errorf("manifests: kustomize build %s: the objects reach %d bytes, over %d MiB, the render size limit (at %s)", kustomizationIn(dir), total, MaxRenderBytes>>20, sources[i])
		}
		label := fmt.Sprintf("%s (rendered by kustomize from %s)", sources[i], dir)
		got, err := decodeDocument(label, document{raw: js, json: true}, forSet)
		if err != nil {
			return nil, err
		}
		for _, o := range got {
			o.Source = sources[i]
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// boundedKrusty runs krusty under the render limits' watchdog (helm_limits.go):
// a kustomization is a program too (ten bases, each including the ten of the
// level below under its own nameSuffix, build 10^n objects), and krusty
// cannot be interrupted, so a build past MaxRenderTime plus the grace, or
// growing the heap by the watchdog's bound, ends the process with a message
// naming the kustomization and the limit.
func boundedKrusty(fsys filesys.FileSystem, absDir, shown string, exit func(string)) (resmap.ResMap, error) {
	b := newRenderBudget()
	done := make(chan struct{})
	go b.watch(func(*renderBudget) string {
		return fmt.Sprintf("kustomize build %s", shown)
	}, done, exit)
	defer close(done)
	return krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, absDir)
}

// originSource names the file a rendered object came from, from the origin
// annotation kustomize adds (buildMetadata: [originAnnotations]), with the
// document's line when the preflight decoded that file.
func (l *loader) originSource(dir string, r *resource.Resource) string {
	o, err := r.GetOrigin()
	if err != nil || o == nil {
		return dir
	}
	switch {
	case o.Repo != "":
		return o.Repo + "//" + o.Path
	case o.ConfiguredIn != "":
		return filepath.Join(dir, o.ConfiguredIn) + " (" + o.ConfiguredBy.Kind + ")"
	case o.Path == "":
		return dir
	}
	file := filepath.Join(dir, o.Path)
	abs, err := filepath.Abs(file)
	if err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
	}
	name := r.GetName()
	for _, c := range l.resourceFiles[abs] {
		if c.GetObjectKind().GroupVersionKind().Kind == r.GetKind() && c.GetName() != "" && strings.Contains(name, c.GetName()) {
			return c.Source
		}
	}
	return file
}

// preflight walks a kustomization and the local bases and components it
// includes, before krusty runs.
type preflight struct {
	l        *loader
	included map[string]string // directory -> the kustomization that first included it
	diamonds []string
}

func (p *preflight) walk(absDir, display string, chain []string) error {
	kf := kustomizationIn(absDir)
	shown := filepath.Join(display, filepath.Base(kf))
	raw, err := readFile(kf)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return malformedYAML(shown, 1, err)
	}
	var k types.Kustomization
	if err := json.Unmarshal(js, &k); err != nil {
		return nil // krusty reports a malformed kustomization in its own words
	}
	if err := refuseRemote(shown, &k); err != nil {
		return err
	}
	if err := refuseHelmCharts(shown, display, &k); err != nil {
		return err
	}
	chain = append(chain, absDir)
	dirs := map[string]string{} // entry -> field
	for _, e := range slices.Concat(k.Resources, k.Bases) {
		dirs[e] = "resources"
	}
	for _, e := range k.Components {
		dirs[e] = "components"
	}
	for _, e := range slices.Concat(k.Resources, k.Bases, k.Components) {
		field := dirs[e]
		target := filepath.Join(absDir, e)
		st, err := os.Stat(target)
		if err != nil {
			return entryError(shown, field, e, target, err)
		}
		if !st.IsDir() {
			if field == "components" {
				return fmt.Errorf("manifests: %s: component %q is a file; a component is a directory with a kustomization (kind: Component)", shown, e)
			}
			if err := p.resourceFile(shown, absDir, e, target, filepath.Join(display, e)); err != nil {
				return err
			}
			continue
		}
		real, err := filepath.EvalSymlinks(target)
		if err != nil {
			return entryError(shown, field, e, target, err)
		}
		if slices.Contains(chain, real) {
			return fmt.Errorf("manifests: %s: %s entry %q includes a kustomization that includes this one (a cycle)", shown, field, e)
		}
		if kustomizationIn(real) == "" {
			return fmt.Errorf("manifests: %s: %s entry %q is a directory without a kustomization (kustomization.yaml, kustomization.yml or Kustomization)", shown, field, e)
		}
		if first, ok := p.included[real]; ok {
			p.diamonds = append(p.diamonds, fmt.Sprintf("%s is included by %s and by %s", filepath.Join(display, e), first, shown))
			continue
		}
		p.included[real] = shown
		if err := p.walk(real, filepath.Join(display, e), chain); err != nil {
			return err
		}
	}
	return nil
}

// resourceFile checks one file listed under resources: inside the root (as
// krusty's RootOnly restriction demands), and strictly decodable.
func (p *preflight) resourceFile(shown, absDir, entry, target, display string) error {
	real, err := filepath.EvalSymlinks(target)
	if err != nil {
		return entryError(shown, "resources", entry, target, err)
	}
	root, err := filepath.EvalSymlinks(absDir)
	if err != nil {
		return entryError(shown, "resources", entry, absDir, err)
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("manifests: %s: resource %q is outside the kustomization's root %s; kustomize's default load restriction (LoadRestrictionsRootOnly) refuses files outside the root, for security: move the file into a base with its own kustomization", shown, entry, filepath.Dir(shown))
	}
	if _, done := p.l.resourceFiles[real]; done {
		return nil
	}
	raw, err := readFile(display)
	if err != nil {
		return err
	}
	objs, err := decodeBytes(display, asKubectlReads(raw), forStrictness)
	if err != nil {
		return err
	}
	p.l.resourceFiles[real] = objs
	return nil
}

func entryError(shown, field, entry, target string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("manifests: %s: %s entry %q: symlink loop at %s (too many levels of symbolic links)", shown, field, entry, target)
	case errors.Is(err, fs.ErrNotExist) && (strings.Contains(entry, "?ref=") || strings.Contains(entry, "?version=")):
		return fmt.Errorf("manifests: %s: %s entry %q: %s does not exist; it looks like a remote base (?ref=): remote bases are not fetched, vendor it into the repository and list its local path", shown, field, entry, target)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("manifests: %s: %s entry %q: %s does not exist", shown, field, entry, target)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("manifests: %s: %s entry %q: %s: permission denied (check its mode and owner)", shown, field, entry, target)
	}
	return fmt.Errorf("manifests: %s: %s entry %q: %w", shown, field, entry, err)
}

// refuseRemote fails on any entry kustomize would fetch over the network.
func refuseRemote(shown string, k *types.Kustomization) error {
	remote := func(field, e string) error {
		return fmt.Errorf("manifests: %s: %s entry %q is remote: remote bases are not fetched (no network is tried); vendor it into the repository and list its local path", shown, field, e)
	}
	for _, e := range slices.Concat(k.Resources, k.Bases) {
		if isRemoteRef(e) {
			return remote("resources", e)
		}
	}
	for _, e := range k.Components {
		if isRemoteRef(e) {
			return remote("components", e)
		}
	}
	// Fields that name a file kustomize loads with its loader, which fetches
	// http(s) URLs.
	files := map[string][]string{
		"crds": k.Crds, "configurations": k.Configurations, "generators": k.Generators,
		"transformers": k.Transformers, "validators": k.Validators, "openapi": {k.OpenAPI["path"]},
	}
	for _, p := range k.Patches {
		files["patches"] = append(files["patches"], p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		files["patchesJson6902"] = append(files["patchesJson6902"], p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		files["patchesStrategicMerge"] = append(files["patchesStrategicMerge"], string(p))
	}
	for _, r := range k.Replacements {
		files["replacements"] = append(files["replacements"], r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		files["configMapGenerator"] = append(files["configMapGenerator"], generatorFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		files["secretGenerator"] = append(files["secretGenerator"], generatorFiles(g.KvPairSources)...)
	}
	for field, list := range files {
		for _, e := range list {
			if isURL(e) {
				return remote(field, e)
			}
		}
	}
	return nil
}

// refuseHelmCharts explains a kustomization that inflates Helm charts
// (helmCharts:, or the deprecated helmChartInflationGenerator:). kustomize
// runs helm for them only with --enable-helm, which `kubectl apply -k` does
// not have: kubectl cannot apply this kustomization either. The chart can
// be checked on its own. Nothing of the entry is quoted but the chart's name
// (valuesInline and a repository URL may hold credentials).
func refuseHelmCharts(shown, display string, k *types.Kustomization) error {
	charts := slices.Clone(k.HelmCharts)
	for _, a := range k.HelmChartInflationGenerator {
		charts = append(charts, types.HelmChart{Name: a.ChartName, Repo: a.ChartRepoURL})
	}
	if len(charts) == 0 {
		return nil
	}
	c := charts[0]
	home := types.HelmDefaultHome
	if k.HelmGlobals != nil && k.HelmGlobals.ChartHome != "" {
		home = k.HelmGlobals.ChartHome
	}
	where := fmt.Sprintf("point MANIFESTS_DIR at the chart itself (%s), with its values in %s or %s",
		filepath.Join(display, home, c.Name), EnvValues, EnvSet)
	if c.Repo != "" {
		where = fmt.Sprintf("its chart comes from a chart repository (repo:, not shown), which is never downloaded: vendor the chart into the repository (helm pull --untar), then point MANIFESTS_DIR at it, with its values in %s or %s", EnvValues, EnvSet)
	}
	return fmt.Errorf("manifests: %s: helmCharts entry %q: kustomize inflates Helm charts only when run with --enable-helm, which `kubectl apply -k` does not have, so kubectl cannot apply this kustomization either (valuesInline not shown). To check the chart, %s", shown, c.Name, where)
}

func generatorFiles(s types.KvPairSources) []string {
	var out []string
	for _, f := range s.FileSources {
		if _, path, ok := strings.Cut(f, "="); ok {
			f = path
		}
		out = append(out, f)
	}
	return append(append(out, s.EnvSources...), s.EnvSource)
}

// isURL is kustomize's test for a file it downloads (api/internal/loader
// IsRemoteFile): an http or https URL.
var urlScheme = regexp.MustCompile(`(?i)^(https?|ssh|file|git)://`)

func isURL(s string) bool { return urlScheme.MatchString(strings.TrimSpace(s)) }

// isRemoteRef mirrors how kustomize tells a remote base from a local path
// (api/internal/git NewRepoSpecFromURL, which is internal to kustomize): an
// optional "git::" prefix, then a scheme (ssh, https, http, file), a
// user@ prefix (SCP-like user@host:path), or a github.com/ or github.com:
// host.
func isRemoteRef(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) >= 5 && strings.EqualFold(s[:5], "git::") {
		s = s[5:]
	}
	if isURL(s) {
		return true
	}
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") {
		return true
	}
	return scpUser.MatchString(s)
}

// scpUser is kustomize's username prefix followed by a host and a path.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@[^/:]+[:/].`)

// explain rewords krusty's errors where they are unclear.
func (p *preflight) explain(dir string, err error) error {
	msg := redactKustomize(err.Error())
	if i := strings.LastIndex(msg, "manifests: "); i >= 0 {
		// A file krusty read through boundedFS was refused: that message
		// says it all, without krusty's wrapping (which quotes its config).
		return fmt.Errorf("manifests: kustomize build %s: %s", dir, msg[i+len("manifests: "):])
	}
	if strings.Contains(msg, "already registered id") {
		if len(p.diamonds) > 0 {
			return fmt.Errorf("manifests: %s: an object is included twice: %s, and the copies have the same kind, namespace and name (give one path a namePrefix or nameSuffix, or include the base once). kustomize: %s", dir, strings.Join(p.diamonds, "; "), lastCause(msg))
		}
		return fmt.Errorf("manifests: %s: an object is listed twice under the same kind, namespace and name. kustomize: %s", dir, lastCause(msg))
	}
	if strings.Contains(msg, "is not in or below") {
		return fmt.Errorf("manifests: %s: a file outside the kustomization's root is refused by kustomize's default load restriction (LoadRestrictionsRootOnly), for security. kustomize: %s", dir, lastCause(msg))
	}
	return fmt.Errorf("manifests: kustomize build %s: %s", dir, msg)
}

// Parts of krusty's errors that quote input content, which may be a
// credential: a generator's literal sources ("literal sources [K=v]",
// "invalid literal source K:v"), an env file's line, an inline patch, and
// whole objects dumped as JSON (an ID conflict prints the conflicting
// objects, a Secret's data included). None of it may reach the output.
var (
	krustyLiterals    = regexp.MustCompile(`literal sources \[[^\n]*?\]: `)
	krustyLiteral     = regexp.MustCompile(`invalid literal source [^\n]*?, expected key=value`)
	krustyEnvLine     = regexp.MustCompile(`has invalid utf8 bytes : [^\n]*`)
	krustyPatchSource = regexp.MustCompile(`(?s)unable to parse SM or JSON patch from .*`)
	// A builtin's configuration (a replacement, a patch, a generator, a
	// helm chart's valuesInline), quoted whole when it cannot be set up.
	krustyConfig = regexp.MustCompile("(?s)with config: `.*?`")
	// kyaml quotes the node it could not walk: a field's value (a
	// replacement error quotes the value it was replacing).
	kyamlNodeContents = regexp.MustCompile(`(?s)node contents:.*`)
)

// redactKustomize removes quoted input from a krusty error, keeping what
// names the problem (file names, IDs, the kind of mistake).
func redactKustomize(msg string) string {
	msg = krustyLiterals.ReplaceAllString(msg, "literal sources (values not shown): ")
	msg = krustyLiteral.ReplaceAllString(msg, "invalid literal source (value not shown), expected key=value")
	msg = krustyEnvLine.ReplaceAllString(msg, "has invalid utf8 bytes (line not shown)")
	msg = krustyPatchSource.ReplaceAllString(msg, "unable to parse an inline patch as a strategic merge or JSON 6902 patch (patch not shown)")
	msg = krustyConfig.ReplaceAllString(msg, "with its configuration (not shown)")
	msg = strings.TrimRight(kyamlNodeContents.ReplaceAllString(msg, "the node's contents (not shown)"), "\n ")
	return redactObjects(msg)
}

// redactObjects replaces every JSON object quoted in msg ({"apiVersion":
// ...}) by its kind and name, or by a mark when those cannot be read.
func redactObjects(msg string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "{\"")
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i])
		depth, end, inString, escaped := 0, -1, false, false
	scan:
		for j := i; j < len(msg); j++ {
			c := msg[j]
			switch {
			case escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case c == '"':
				inString = !inString
			case inString:
			case c == '{':
				depth++
			case c == '}':
				depth--
				if depth == 0 {
					end = j + 1
					break scan
				}
			}
		}
		if end < 0 { // unbalanced: drop the rest rather than show it
			b.WriteString("<object not shown>")
			return b.String()
		}
		var h head
		if json.Unmarshal([]byte(msg[i:end]), &h) == nil && h.Kind != "" {
			b.WriteString("<" + h.key().String() + ", contents not shown>")
		} else {
			b.WriteString("<object not shown>")
		}
		msg = msg[end:]
	}
}

// lastCause keeps the end of krusty's nested wrappings ("accumulating
// resources from ...: ...: cause"), the part that names the problem.
func lastCause(msg string) string {
	for _, marker := range []string{"may not add resource", "security; "} {
		if i := strings.LastIndex(msg, marker); i >= 0 {
			return strings.TrimRight(msg[i:], "'")
		}
	}
	return msg
}

// boundedFS is the on-disk filesystem krusty reads through, with readFile's
// bounds on every file it reads, and the root kustomization read with
// buildMetadata: [originAnnotations] so each object names its origin file.
type boundedFS struct {
	filesys.FileSystem
	root     string
	injected bool
}

func (b *boundedFS) ReadFile(path string) ([]byte, error) {
	raw, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if filepath.Dir(path) == b.root && slices.Contains(kustomizationNames, filepath.Base(path)) {
		if out, ok := withOriginAnnotations(raw); ok {
			b.injected = true
			return out, nil
		}
	}
	return raw, nil
}

func (b *boundedFS) Open(path string) (filesys.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, openError(path, err)
	}
	if err := requireRegular(path, st); err != nil {
		return nil, err
	}
	if st.Size() > MaxFileBytes {
		return nil, tooBig(path, fmt.Sprintf("%d bytes", st.Size()))
	}
	return b.FileSystem.Open(path)
}

// withOriginAnnotations adds originAnnotations to a kustomization's
// buildMetadata; ok is false if the kustomization asks for them itself (its
// author wants them applied) or does not parse (krusty will say why).
func withOriginAnnotations(raw []byte) ([]byte, bool) {
	node, err := kyaml.Parse(string(raw))
	if err != nil {
		return nil, false
	}
	list, err := node.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "buildMetadata"))
	if err != nil || list == nil {
		return nil, false
	}
	elems, err := list.Elements()
	if err != nil {
		return nil, false
	}
	for _, e := range elems {
		if e.YNode().Value == types.OriginAnnotations {
			return nil, false
		}
	}
	if err := list.PipeE(kyaml.Append(kyaml.NewScalarRNode(types.OriginAnnotations).YNode())); err != nil {
		return nil, false
	}
	s, err := node.String()
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}
