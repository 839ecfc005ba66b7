package live

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeRoom is what one schedulable node can still take.
type NodeRoom struct {
	Name     string
	FreeCPU  resource.Quantity
	FreeMem  resource.Quantity
	AllocCPU resource.Quantity
}

// Room returns, per schedulable node (no NoSchedule/NoExecute taint), its
// allocatable CPU and memory minus the requests of the pods bound to it.
func Room(ctx context.Context, cs kubernetes.Interface) ([]NodeRoom, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []NodeRoom
	for _, n := range nodes.Items {
		if tainted(n) {
			continue
		}
		r := NodeRoom{Name: n.Name, FreeCPU: n.Status.Allocatable.Cpu().DeepCopy(), FreeMem: n.Status.Allocatable.Memory().DeepCopy(), AllocCPU: n.Status.Allocatable.Cpu().DeepCopy()}
		for _, p := range pods.Items {
			if p.Spec.NodeName != n.Name || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			cpu, mem := PodRequests(&p)
			r.FreeCPU.Sub(cpu)
			r.FreeMem.Sub(mem)
		}
		out = append(out, r)
	}
	return out, nil
}

func tainted(n corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return n.Spec.Unschedulable
}

// PodRequests sums the containers' requests (init containers run first and
// alone, so the larger of the two sums is what the scheduler reserves).
func PodRequests(p *corev1.Pod) (cpu, mem resource.Quantity) {
	for _, c := range p.Spec.Containers {
		cpu.Add(*c.Resources.Requests.Cpu())
		mem.Add(*c.Resources.Requests.Memory())
	}
	for _, c := range p.Spec.InitContainers {
		if c.Resources.Requests.Cpu().Cmp(cpu) > 0 {
			cpu = c.Resources.Requests.Cpu().DeepCopy()
		}
		if c.Resources.Requests.Memory().Cmp(mem) > 0 {
			mem = c.Resources.Requests.Memory().DeepCopy()
		}
	}
	return cpu, mem
}

// Demand is a number of pods of one request size.
type Demand struct {
	What     string
	Pods     int
	CPU, Mem resource.Quantity
}

// Fits places the demands on the nodes first-fit, largest first, as the
// scheduler would at best; it returns a plain sentence either way.
func Fits(rooms []NodeRoom, demands []Demand) (bool, string) {
	free := make([]NodeRoom, len(rooms))
	copy(free, rooms)
	var totalCPU, totalMem, freeCPU, freeMem resource.Quantity
	for _, r := range rooms {
		freeCPU.Add(r.FreeCPU)
		freeMem.Add(r.FreeMem)
	}
	var parts []string
	for _, d := range demands {
		for i := 0; i < d.Pods; i++ {
			totalCPU.Add(d.CPU)
			totalMem.Add(d.Mem)
		}
		parts = append(parts, fmt.Sprintf("%d x %s (%s cpu, %s mem)", d.Pods, d.What, d.CPU.String(), d.Mem.String()))
	}
	summary := fmt.Sprintf("needs %dm cpu / %dMi memory for %s; free %dm cpu / %dMi memory on %d schedulable node(s)",
		totalCPU.MilliValue(), totalMem.Value()>>20, strings.Join(parts, " + "), freeCPU.MilliValue(), freeMem.Value()>>20, len(rooms))
	for _, d := range demands {
		for i := 0; i < d.Pods; i++ {
			placed := false
			for j := range free {
				if free[j].FreeCPU.Cmp(d.CPU) >= 0 && free[j].FreeMem.Cmp(d.Mem) >= 0 {
					free[j].FreeCPU.Sub(d.CPU)
					free[j].FreeMem.Sub(d.Mem)
					placed = true
					break
				}
			}
			if !placed {
				return false, "the cluster cannot hold it: " + summary + fmt.Sprintf(" (no node has room for %s #%d)", d.What, i+1)
			}
		}
	}
	return true, summary
}
