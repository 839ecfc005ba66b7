package live

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/api/resource"
)

func room(name, cpu string) NodeRoom {
	return NodeRoom{Name: name, FreeCPU: resource.MustParse(cpu), FreeMem: resource.MustParse("20Gi")}
}

func TestFitsPacksWholePods(t *testing.T) {
	front := Demand{What: "frontend", Pods: 2, CPU: resource.MustParse("500m"), Mem: resource.MustParse("512Mi")}
	back := Demand{What: "backend", Pods: 2, CPU: resource.MustParse("250m"), Mem: resource.MustParse("256Mi")}
	ok, msg := Fits([]NodeRoom{room("a", "780m"), room("b", "780m")}, []Demand{front, back})
	assert.True(t, ok, msg)
	// Same total free CPU (1560m >= 1500m) but split so that no node takes a third 500m pod.
	front.Pods = 3
	ok, msg = Fits([]NodeRoom{room("a", "780m"), room("b", "780m")}, []Demand{front})
	assert.False(t, ok)
	assert.Contains(t, msg, "the cluster cannot hold it")
	assert.Contains(t, msg, "no node has room for frontend #3")
}
