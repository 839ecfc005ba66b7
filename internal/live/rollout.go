package live

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

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
	Events     int
	MinReady   int
	MaxPods    int
	Violations []string
	Duration   time.Duration
	OldPods    []string
	NewPods    []string
}

func (o RolloutObservation) String() string {
	return fmt.Sprintf("%d pod events, ready min %d, pods max %d, %d violations, rollout %s",
		o.Events, o.MinReady, o.MaxPods, len(o.Violations), o.Duration.Round(100*time.Millisecond))
}

// WatchRollout starts a pod watch, checks the invariant on the current state,
// calls trigger, and checks the invariant on every pod event until the
// Deployment's rollout completes. Terminating pods are not counted: the
// Deployment controller does not count them either.
func WatchRollout(ctx context.Context, cs kubernetes.Interface, ns, deployment string, inv Invariant, trigger func(context.Context) error) (RolloutObservation, error) {
	sel := labels.SelectorFromSet(inv.Selector).String()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := factory.Core().V1().Pods().Informer()
	obs := RolloutObservation{MinReady: -1}
	var mu sync.Mutex
	start := time.Now()
	before := map[string]bool{}
	observe := func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		ready, pods := 0, 0
		var states []string
		for _, o := range inf.GetStore().List() {
			p := o.(*corev1.Pod)
			if Terminating(p) {
				states = append(states, p.Name+"(terminating)")
				continue
			}
			pods++
			st := "not-ready"
			if PodReady(p) {
				ready++
				st = "ready"
			}
			states = append(states, p.Name+"("+st+")")
		}
		sort.Strings(states)
		obs.Events++
		if obs.MinReady < 0 || ready < obs.MinReady {
			obs.MinReady = ready
		}
		obs.MaxPods = max(obs.MaxPods, pods)
		if int32(ready) < inv.Desired || int32(pods) > inv.MaxPods {
			obs.Violations = append(obs.Violations, fmt.Sprintf("t+%s %s: ready %d (want >= %d), pods %d (want <= %d): %s",
				time.Since(start).Round(100*time.Millisecond), reason, ready, inv.Desired, pods, inv.MaxPods, strings.Join(states, " ")))
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { observe("add") },
		UpdateFunc: func(any, any) { observe("update") },
		DeleteFunc: func(any) { observe("delete") },
	})
	if err != nil {
		return obs, err
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return obs, fmt.Errorf("pod watch did not sync")
	}
	for _, o := range inf.GetStore().List() {
		before[o.(*corev1.Pod).Name] = true
		obs.OldPods = append(obs.OldPods, o.(*corev1.Pod).Name)
	}
	observe("before")
	if err := trigger(ctx); err != nil {
		return obs, fmt.Errorf("starting the rollout: %w", err)
	}
	_, err = WaitDeployment(ctx, cs, ns, deployment, poll.Rollout)
	obs.Duration = time.Since(start)
	observe("complete")
	mu.Lock()
	for _, o := range inf.GetStore().List() {
		p := o.(*corev1.Pod)
		if !before[p.Name] && !Terminating(p) {
			obs.NewPods = append(obs.NewPods, p.Name)
		}
	}
	mu.Unlock()
	return obs, err
}
