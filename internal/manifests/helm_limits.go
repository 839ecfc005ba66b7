package manifests

// Bounds on a Helm render. Inputs are capped (MaxFileBytes per file, Helm's
// loader per chart file), but a template is a program: three lines can emit
// hundreds of thousands of objects or a gigabyte string. A render may
// produce what a real install could apply and no more:
//
//   - each rendered document at most MaxFileBytes (3 MiB, the API server's
//     request limit: a larger object cannot be applied);
//   - all rendered files together at most MaxRenderBytes, and at most
//     MaxRenderObjects documents (far above this app's ten objects and
//     ~10 KiB; Helm stores the whole manifest in one release Secret, 1 MiB
//     compressed);
//   - MaxRenderTime of rendering;
//   - MaxRenderHeap of heap growth while rendering.
//
// How they are enforced: Go's text/template offers no hook into execution,
// and Helm's engine writes each template into its own strings.Builder;
// RenderWithContext's context reaches only `lookup`. So the limits are
// checked wherever the engine hands control back, and a watchdog covers the
// rest:
//
//   - every Sprig function a template calls is wrapped: before it runs the
//     deadline and the heap are checked, after it returns a string result
//     over MaxRenderBytes stops the render (a doubling loop of `cat` stops at
//     its first oversized step);
//   - functions whose result size is set by an argument (repeat, indent,
//     nindent, printf widths, until, untilStep, seq, rand*, replace) are
//     checked before they allocate: `repeat 1000000000 "x"` allocates
//     nothing;
//   - a call appended to the end of each template records its completion
//     (so a failure names the template that was running) and checks the
//     deadline and heap;
//   - the rendered files are measured before they are split or decoded;
//   - a template that loops, recurses or writes with no function call at
//     all ({{range 100000000}}x{{end}}, nested {{template}} calls) cannot be
//     interrupted: Go cannot stop a goroutine. A watchdog then ends the
//     process, with exit status RenderLimitExit and a message naming the
//     template and the limit, once the render passes MaxRenderTime plus
//     watchdogGrace or grows the heap by watchdogHeap. The run fails; it
//     neither hangs nor exhausts the machine's memory.

import (
	"fmt"
	"os"
	"path"
	"reflect"
	"regexp"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/puretasks/k8s-conformance/internal/printsafe"
)

// Render limits (see the file comment).
const (
	MaxRenderBytes   = 16 << 20
	MaxRenderObjects = 5000
	MaxRenderTime    = 2 * time.Second
	MaxRenderHeap    = 48 << 20
	// The watchdog's bounds, beyond the limits the render checks itself, so
	// that a render stopped by its own checks is never cut short by it.
	watchdogGrace = 500 * time.Millisecond
	watchdogHeap  = 64 << 20
	watchdogTick  = 5 * time.Millisecond
	// RenderLimitExit is the exit status of a process ended by the watchdog.
	RenderLimitExit = 3
	// maxListLen caps the lists until/untilStep/seq build (8 bytes each).
	maxListLen = 1 << 20
)

// renderBudget tracks one render: which template is running, the first
// limit crossed, and the templates that called lookup.
type renderBudget struct {
	mu       sync.Mutex
	order    []string // non-partial templates, in the engine's order
	done     int      // how many of order have finished
	deadline time.Time
	heap0    uint64
	calls    int
	breach   error
	lookups  []string
	fails    []string // messages of fail/required, for redaction
}

// beaconFunc is the function appended to every template; its name cannot
// collide with Sprig's or Helm's.
const beaconFunc = "k8sConformanceTemplateDone"

func newRenderBudget() *renderBudget {
	return &renderBudget{deadline: time.Now().Add(MaxRenderTime), heap0: heapBytes()}
}

// current names the template the engine is executing: the first of its
// order that has not finished.
func (b *renderBudget) current() string {
	if b.done < len(b.order) {
		return b.order[b.done]
	}
	return "(after the last template)"
}

// over records the first limit crossed and returns the error to hand to
// the engine, which stops the render.
func (b *renderBudget) over(format string, a ...any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.breach == nil {
		b.breach = fmt.Errorf("template %s: %s", b.current(), fmt.Sprintf(format, a...))
	}
	return b.breach
}

// check is run at every function call: deadline always, heap every 64th
// call (reading runtime metrics costs about a microsecond).
func (b *renderBudget) check() error {
	b.mu.Lock()
	breach := b.breach
	b.calls++
	sample := b.calls%64 == 0
	b.mu.Unlock()
	if breach != nil {
		return breach
	}
	if time.Now().After(b.deadline) {
		return b.over("rendering took longer than %s, the render time limit", MaxRenderTime)
	}
	if sample {
		if grown := heapBytes() - b.heap0; int64(grown) > MaxRenderHeap {
			return b.over("rendering grew the heap by more than %d MiB, the render memory limit", MaxRenderHeap>>20)
		}
	}
	return nil
}

func (b *renderBudget) finished(name string) (string, error) {
	b.mu.Lock()
	for i := b.done; i < len(b.order); i++ {
		if b.order[i] == name {
			b.done = i + 1
			break
		}
	}
	b.mu.Unlock()
	// Counted as a call, so the heap is sampled at template ends too.
	return "", b.check()
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// instrument appends the completion call to every template the engine will
// execute (non-partials of application charts) and returns them in the
// engine's order (engine.sortTemplates: deepest paths first, then by name,
// descending). Appending, not prepending, keeps every line and column of
// the template's own text where Helm's error messages say it is.
func instrument(c *chart.Chart) []string {
	var names []string
	var walk func(c *chart.Chart)
	walk = func(c *chart.Chart) {
		for _, d := range c.Dependencies() {
			walk(d)
		}
		if c.Metadata != nil && c.Metadata.Type == "library" {
			return
		}
		for _, t := range c.Templates {
			if t == nil || strings.HasPrefix(path.Base(t.Name), "_") {
				continue
			}
			name := path.Join(c.ChartFullPath(), t.Name)
			names = append(names, name)
			data := make([]byte, 0, len(t.Data)+len(name)+40)
			data = append(data, t.Data...)
			data = append(data, "{{ "+beaconFunc+" "+strconv.Quote(name)+" }}"...)
			t.Data = data
		}
	}
	walk(c)
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca != cb {
			return ca > cb
		}
		return a > b
	})
	return names
}

// boundedFuncs are the functions given to the engine (CustomTemplateFuncs,
// which override its own): every Sprig function wrapped with the budget
// checks, the size-checked ones, the completion call, and the offline
// lookup, fail and required that Helm provides, with their calls recorded.
func (b *renderBudget) boundedFuncs() template.FuncMap {
	f := template.FuncMap{}
	for name, fn := range sprig.TxtFuncMap() {
		if !helmOwn[name] {
			f[name] = b.wrap(name, fn)
		}
	}
	sized := template.FuncMap{
		"repeat": func(count int, s string) (string, error) {
			if err := b.size("repeat", int64(count), int64(len(s))); err != nil {
				return "", err
			}
			return strings.Repeat(s, max(count, 0)), nil
		},
		"indent":  b.indent(false),
		"nindent": b.indent(true),
		"printf":  b.printf,
		"until": func(n int) ([]int, error) {
			if err := b.listLen("until", int64(n)); err != nil {
				return nil, err
			}
			return sprig.TxtFuncMap()["until"].(func(int) []int)(n), nil
		},
		"untilStep": func(start, stop, step int) ([]int, error) {
			if step != 0 {
				if err := b.listLen("untilStep", (int64(stop)-int64(start))/int64(step)); err != nil {
					return nil, err
				}
			}
			return sprig.TxtFuncMap()["untilStep"].(func(int, int, int) []int)(start, stop, step), nil
		},
		"seq": func(params ...int) (string, error) {
			if len(params) > 0 {
				lo, hi := int64(1), int64(params[len(params)-1])
				if len(params) > 1 {
					lo = int64(params[0])
				}
				if err := b.listLen("seq", hi-lo); err != nil {
					return "", err
				}
			}
			return sprig.TxtFuncMap()["seq"].(func(...int) string)(params...), nil
		},
		"replace": func(old, repl, src string) (string, error) {
			n := int64(strings.Count(src, old))
			if old == "" {
				n = int64(len(src)) + 1
			}
			if err := b.size("replace", n, int64(len(repl))); err != nil {
				return "", err
			}
			return strings.ReplaceAll(src, old, repl), nil
		},
		beaconFunc: b.finished,
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]any, error) {
			b.mu.Lock()
			cur := b.current()
			if len(b.lookups) == 0 || b.lookups[len(b.lookups)-1] != cur {
				b.lookups = append(b.lookups, cur)
			}
			b.mu.Unlock()
			return map[string]any{}, b.check() // offline, as helm template: nothing found
		},
	}
	for _, name := range []string{"randAlphaNum", "randAlpha", "randAscii", "randNumeric"} {
		rnd := sprig.TxtFuncMap()[name].(func(int) string)
		sized[name] = func(n int) (string, error) {
			if err := b.size(name, int64(n), 1); err != nil {
				return "", err
			}
			return rnd(n), nil
		}
	}
	for k, v := range sized {
		f[k] = v
	}
	return f
}

// helmOwn are the names the engine does not take from Sprig as they are:
// removed (env, expandenv), replaced by Helm's own (fail, getHostByName
// without --enable-dns, and the conversions of engine/funcs.go), or added by
// it. They are left to the engine, so a chart renders exactly as with helm;
// only their calls are not budget-checked.
var helmOwn = map[string]bool{
	"env": true, "expandenv": true, "fail": true, "getHostByName": true,
	"toToml": true, "mustToToml": true, "fromToml": true, "toYaml": true, "mustToYaml": true,
	"toYamlPretty": true, "fromYaml": true, "fromYamlArray": true, "toJson": true,
	"mustToJson": true, "fromJson": true, "fromJsonArray": true, "include": true,
	"tpl": true, "required": true, "lookup": true,
}

// size refuses a result of count×unit bytes over MaxRenderBytes, before it
// is allocated.
func (b *renderBudget) size(fn string, count, unit int64) error {
	if err := b.check(); err != nil {
		return err
	}
	if count > 0 && unit > 0 && (count > MaxRenderBytes || count*unit > MaxRenderBytes) {
		return b.over("%s would build a string of %d×%d bytes, over %d MiB, the render size limit", fn, count, unit, MaxRenderBytes>>20)
	}
	return nil
}

func (b *renderBudget) listLen(fn string, n int64) error {
	if err := b.check(); err != nil {
		return err
	}
	if n > maxListLen || -n > maxListLen {
		return b.over("%s would build a list of %d numbers, over %d, the render list limit", fn, n, maxListLen)
	}
	return nil
}

func (b *renderBudget) indent(leadingNewline bool) func(int, string) (string, error) {
	return func(spaces int, v string) (string, error) {
		if err := b.size("indent", int64(max(spaces, 0)), int64(strings.Count(v, "\n")+1)); err != nil {
			return "", err
		}
		pad := strings.Repeat(" ", max(spaces, 0))
		out := pad + strings.ReplaceAll(v, "\n", "\n"+pad)
		if leadingNewline {
			out = "\n" + out
		}
		return out, nil
	}
}

// printfWidth finds the widths and precisions of a format's verbs.
var printfWidth = regexp.MustCompile(`%[-+# 0]*(\*|\d+)?(?:\.(\*|\d+))?`)

func (b *renderBudget) printf(format string, args ...any) (string, error) {
	if err := b.check(); err != nil {
		return "", err
	}
	star := false
	for _, m := range printfWidth.FindAllStringSubmatch(format, -1) {
		for _, w := range m[1:] {
			if w == "*" {
				star = true
			} else if n, err := strconv.ParseInt(w, 10, 64); (err != nil && w != "") || n > MaxRenderBytes {
				return "", b.over("printf width %s is over %d MiB, the render size limit", w, MaxRenderBytes>>20)
			}
		}
	}
	if star {
		for _, a := range args {
			if n, ok := a.(int); ok && (n > MaxRenderBytes || -n > MaxRenderBytes) {
				return "", b.over("printf width %d is over %d MiB, the render size limit", n, MaxRenderBytes>>20)
			}
		}
	}
	if n := argBytes([]reflect.Value{reflect.ValueOf(args)}) + len(format); n > MaxRenderBytes {
		return "", b.over("printf would build a string from %d bytes of arguments, over %d MiB, the render size limit", n, MaxRenderBytes>>20)
	}
	out := fmt.Sprintf(format, args...)
	if len(out) > MaxRenderBytes {
		return "", b.over("printf built %d bytes, over %d MiB, the render size limit", len(out), MaxRenderBytes>>20)
	}
	return out, nil
}

var errorType = reflect.TypeFor[error]()

// argBytes is the length of the string arguments of a call, including those
// in a variadic slice and in interface values.
func argBytes(in []reflect.Value) int {
	n := 0
	for _, v := range in {
		for v.Kind() == reflect.Interface && !v.IsNil() {
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.String:
			n += v.Len()
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				n += v.Len()
				continue
			}
			for i := range v.Len() {
				n += argBytes([]reflect.Value{v.Index(i)})
			}
		}
	}
	return n
}

// wrap returns fn with the budget checked before it runs and its string
// result measured after: the same signature, so text/template calls it
// exactly as it would call fn.
func (b *renderBudget) wrap(name string, fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func || t.NumOut() == 0 {
		return fn
	}
	returnsErr := t.Out(t.NumOut()-1) == errorType
	if !returnsErr && t.NumOut() > 1 {
		return fn
	}
	fail := func(err error) []reflect.Value {
		if !returnsErr {
			// text/template turns a panic in a function into an error
			// at the call site.
			panic(err)
		}
		out := make([]reflect.Value, t.NumOut())
		for i := range out {
			out[i] = reflect.Zero(t.Out(i))
		}
		out[len(out)-1] = reflect.ValueOf(&err).Elem()
		return out
	}
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		if err := b.check(); err != nil {
			return fail(err)
		}
		// No string over MaxRenderBytes exists (each is stopped where it is
		// made), so only several arguments together can exceed it: refused
		// before the function copies them into one.
		if n := argBytes(in); n > MaxRenderBytes {
			return fail(b.over("%s would build a string from %d bytes of arguments, over %d MiB, the render size limit", name, n, MaxRenderBytes>>20))
		}
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(in)
		} else {
			out = v.Call(in)
		}
		if r := out[0]; r.Kind() == reflect.String && r.Len() > MaxRenderBytes {
			return fail(b.over("a function returned %d bytes, over %d MiB, the render size limit", r.Len(), MaxRenderBytes>>20))
		}
		return out
	}).Interface()
}

// watch ends the process when a render that cannot be interrupted passes
// the watchdog's bounds (see the file comment); it returns when done closes.
// exit is os.Exit but for tests.
func (b *renderBudget) watch(what func(*renderBudget) string, done <-chan struct{}, exit func(string)) {
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	deadline := b.deadline.Add(watchdogGrace)
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			var limit string
			switch {
			case now.After(deadline):
				limit = fmt.Sprintf("rendering took longer than %s, the render time limit", MaxRenderTime)
			case int64(heapBytes()-b.heap0) > watchdogHeap:
				limit = fmt.Sprintf("rendering grew the heap by more than %d MiB, the render memory limit", watchdogHeap>>20)
			default:
				continue
			}
			select {
			case <-done: // finished meanwhile: its own checks report it
				return
			default:
			}
			b.mu.Lock()
			where := what(b)
			b.mu.Unlock()
			exit(printsafe.String(fmt.Sprintf("manifests: %s: %s, which cannot be interrupted: the process ends here", where, limit)))
			return
		}
	}
}

// exitForLimit is the watchdog's exit: the message on stderr, then
// RenderLimitExit.
func exitForLimit(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(RenderLimitExit)
}
