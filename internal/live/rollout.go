package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/poll"
)

// Invariant is what must hold on every observation of a rolling update.
type Invariant struct {
	Desired  int32 // ready pods never below this (replicas − maxUnavailable, 0 in the seed)
	MaxPods  int32 // pods never above this (replicas + maxSurge)
	Selector map[string]string
}

// RolloutObservation is what the watch saw.
type RolloutObservation struct {
	// Events counts pod events the watch delivered (add, update, delete);
	// the two synthetic observations, before and after, are not events.
	Events     int
	MinReady   int
	MaxPods    int
	Violations []string
	Duration   time.Duration
	OldPods    []string
	NewPods    []string
	// Condemned is the most pods seen at once that their ReplicaSet had
	// already been scaled below (condemnedPods): not counted in MaxPods.
	Condemned int
}

func (o RolloutObservation) String() string {
	s := fmt.Sprintf("%d pod events, ready min %d, pods max %d, %d violations, rollout %s",
		o.Events, o.MinReady, o.MaxPods, len(o.Violations), o.Duration.Round(100*time.Millisecond))
	if o.Condemned > 0 {
		s += fmt.Sprintf(" (up to %d pod(s) seen after their ReplicaSet was scaled below them, not counted)", o.Condemned)
	}
	return s
}

// MinRolloutEvents is the fewest pod events a rollout replacing old pods
// must deliver: each old pod is replaced by a new one that appears (an add)
// and the old one goes (an update to terminating or a delete). A watch
// that saw fewer missed the rollout, so it judges nothing.
func MinRolloutEvents(oldPods int) int { return max(1, 2*oldPods) }

// ErrTooFewEvents is returned when the pod watch delivered fewer events than
// the rollout must have caused: the invariant was not observed, so the
// observation is no judgement either way.
type ErrTooFewEvents struct{ Seen, Want int }

func (e ErrTooFewEvents) Error() string {
	return fmt.Sprintf("the pod watch delivered %d event(s) during the rollout, at least %d expected (an add and a removal per replaced pod): the invariant was not observed", e.Seen, e.Want)
}

// WatchRollout starts a pod watch, checks the invariant on the current state,
// calls trigger, and checks the invariant on every pod event until the
// Deployment's rollout completes. Terminating pods are not counted: the
// Deployment controller does not count them either. A watch that delivered
// fewer than MinRolloutEvents is ErrTooFewEvents. The observation returned
// is taken after the watch has stopped: no handler writes it any more.
func WatchRollout(ctx context.Context, cs kubernetes.Interface, ns, deployment string, inv Invariant, trigger func(context.Context) error) (RolloutObservation, error) {
	sel := labels.SelectorFromSet(inv.Selector).String()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := factory.Core().V1().Pods().Informer()
	// mu guards obs and seen: the informer's handlers write them. seen is
	// the pods as the handlers delivered them, so every judgement rests on
	// events the watch delivered, never on a later list.
	var mu sync.Mutex
	obs := RolloutObservation{MinReady: -1}
	seen := map[string]podState{}
	start := time.Now()
	var triggered atomic.Bool
	observeLocked := func(reason string) {
		ready, pods := 0, 0
		var states []string
		for name, st := range seen {
			if st.terminating {
				states = append(states, name+"(terminating)")
				continue
			}
			pods++
			label := "not-ready"
			if st.ready {
				ready++
				label = "ready"
			}
			states = append(states, name+"("+label+")")
		}
		sort.Strings(states)
		if int32(pods) > inv.MaxPods {
			// Over the surge limit as seen: unless the API says the
			// surplus is condemned (its deletion in flight), a violation.
			n, err := condemnedPods(ctx, cs, ns, sel, seen)
			if err != nil {
				states = append(states, "(ReplicaSets not read: "+err.Error()+")")
			} else {
				pods -= n
				obs.Condemned = max(obs.Condemned, n)
			}
		}
		if obs.MinReady < 0 || ready < obs.MinReady {
			obs.MinReady = ready
		}
		obs.MaxPods = max(obs.MaxPods, pods)
		if int32(ready) < inv.Desired || int32(pods) > inv.MaxPods {
			obs.Violations = append(obs.Violations, fmt.Sprintf("t+%s %s: ready %d (want >= %d), pods %d (want <= %d): %s",
				time.Since(start).Round(100*time.Millisecond), reason, ready, inv.Desired, pods, inv.MaxPods, strings.Join(states, " ")))
		}
	}
	event := func(reason string, obj any, gone bool) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				p, ok = d.Obj.(*corev1.Pod)
			}
		}
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if gone {
			delete(seen, p.Name)
		} else {
			seen[p.Name] = stateOf(p)
		}
		// Events before the trigger (the initial list) are not the rollout's.
		if triggered.Load() {
			obs.Events++
			observeLocked(reason)
			if handledHook != nil {
				handledHook()
			}
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { event("add", o, false) },
		UpdateFunc: func(_, o any) { event("update", o, false) },
		DeleteFunc: func(o any) { event("delete", o, true) },
	})
	if err != nil {
		return obs, err
	}
	stop := make(chan struct{})
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			factory.Shutdown() // returns once no handler runs
		}
	}
	defer halt()
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return RolloutObservation{}, &RolloutMachineryError{Err: errors.New("pod watch did not sync")}
	}
	// The initial list's adds may still be on their way to the handlers:
	// the state before the trigger is the store's.
	before := map[string]bool{}
	mu.Lock()
	for _, o := range inf.GetStore().List() {
		p := o.(*corev1.Pod)
		before[p.Name] = true
		obs.OldPods = append(obs.OldPods, p.Name)
		seen[p.Name] = stateOf(p)
	}
	sort.Strings(obs.OldPods) // the store lists in map order
	observeLocked("before")
	mu.Unlock()
	triggered.Store(true)
	if err := trigger(ctx); err != nil {
		halt()
		return copyObservation(&mu, &obs), &RolloutMachineryError{Err: fmt.Errorf("starting the rollout: %w", err)}
	}
	_, err = WaitDeployment(ctx, cs, ns, deployment, poll.Rollout)
	if err == nil {
		// Judge only once the watch has delivered the state the API shows.
		if err = settled(ctx, cs, ns, sel, &mu, seen); err != nil {
			err = &RolloutMachineryError{Err: err}
		}
	}
	halt()
	mu.Lock()
	obs.Duration = time.Since(start)
	observeLocked("complete")
	for name, st := range seen {
		if !before[name] && !st.terminating {
			obs.NewPods = append(obs.NewPods, name)
		}
	}
	sort.Strings(obs.NewPods)
	mu.Unlock()
	out := copyObservation(&mu, &obs)
	if err != nil {
		return out, err
	}
	if want := MinRolloutEvents(len(out.OldPods)); out.Events < want {
		return out, ErrTooFewEvents{Seen: out.Events, Want: want}
	}
	return out, nil
}

// RolloutMachineryError is a rollout the suite could not start or watch
// (the API refused the template change, the pod watch did not sync or fell
// behind): it says nothing about the manifests.
type RolloutMachineryError struct{ Err error }

func (e *RolloutMachineryError) Error() string { return e.Err.Error() }
func (e *RolloutMachineryError) Unwrap() error { return e.Err }

// handledHook, when set (tests only), is told each rollout event has been
// judged: a fake controller then takes its next step no sooner than a real
// one would, after the watch has seen the last.
var handledHook func()

// podState is what the invariant reads of a pod.
type podState struct {
	ready, terminating bool
	owner              string // the ReplicaSet controlling it, if any
}

func stateOf(p *corev1.Pod) podState {
	st := podState{ready: PodReady(p), terminating: Terminating(p)}
	if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "ReplicaSet" {
		st.owner = ref.Name
	}
	return st
}

// condemnedPods counts the live pods seen whose ReplicaSet the API already
// shows scaled below them. The Deployment controller enforces maxSurge on
// its ReplicaSets' replicas; an old ReplicaSet's controller deletes the pod
// a scale-down condemned a moment later, and a new ReplicaSet's pod may be
// created in that moment (measured: 5 pods for 3 replicas with maxSurge 1,
// one of them already condemned). Those pods are on their way out by the
// controller's decision, so they are not the strategy's surge. The read is
// the API's current state, taken after the event: a ReplicaSet scaled
// above the limit (a wrong maxSurge) stays so for a whole readiness delay,
// and is counted.
func condemnedPods(ctx context.Context, cs kubernetes.Interface, ns, sel string, seen map[string]podState) (int, error) {
	list, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, err
	}
	have := map[string]int32{}
	for _, st := range seen {
		if !st.terminating && st.owner != "" {
			have[st.owner]++
		}
	}
	n := 0
	for _, rs := range list.Items {
		if want := ptr.Deref(rs.Spec.Replicas, 1); have[rs.Name] > want {
			n += int(have[rs.Name] - want)
		}
	}
	return n, nil
}

// settled waits until the pods the watch delivered are the pods the API
// lists, in the same state.
func settled(ctx context.Context, cs kubernetes.Interface, ns, sel string, mu *sync.Mutex, seen map[string]podState) error {
	last := "not listed"
	err := poll.Until(ctx, poll.WatchSettled, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		mu.Lock()
		defer mu.Unlock()
		if len(list.Items) != len(seen) {
			last = fmt.Sprintf("the API lists %d pods, the watch delivered %d", len(list.Items), len(seen))
			return false, nil
		}
		for i := range list.Items {
			p := &list.Items[i]
			if st, ok := seen[p.Name]; !ok || st != stateOf(p) {
				last = fmt.Sprintf("pod %s: the watch has not delivered its current state", p.Name)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("the pod watch fell behind the API: %w; last seen: %s", err, last)
	}
	return nil
}

// copyObservation copies obs under its lock, slices included.
func copyObservation(mu *sync.Mutex, obs *RolloutObservation) RolloutObservation {
	mu.Lock()
	defer mu.Unlock()
	out := *obs
	out.Violations = slices.Clone(obs.Violations)
	out.OldPods = slices.Clone(obs.OldPods)
	out.NewPods = slices.Clone(obs.NewPods)
	return out
}
