package live

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// describeManifests puts what the run judges in the report's header: the
// suite's revision and, for each set read, its path, the git revision of
// the repository holding it and a digest of the set as rendered.
func (s *Suite) describeManifests(sets []manifests.Profiled) {
	var out []report.ManifestsUnderTest
	for _, p := range sets {
		out = append(out, report.ManifestsUnderTest{
			Path: p.Path, Profile: string(p.Profile), GitRevision: gitRevision(p.Path),
			Digest: digest(p.Set), Objects: len(p.Objects), Applied: s.Sets[p.Profile] == p.Set,
		})
	}
	rev := gitRevision(s.ModuleRoot)
	s.Report.Describe(func(h *report.Header) {
		h.SuiteRevision = rev
		h.Manifests = out
	})
}

// describeCluster puts the cluster the run judged on in the report's
// header: the API server's version and the nodes by role.
func (s *Suite) describeCluster(ctx context.Context) {
	version := "(unknown)"
	if v, err := s.Clientset.Discovery().ServerVersion(); err == nil {
		version = v.GitVersion
	} else {
		version = "unknown: " + err.Error()
	}
	topology := "(unknown)"
	if nodes, err := s.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		cp := 0
		for _, n := range nodes.Items {
			if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
				cp++
			}
		}
		topology = fmt.Sprintf("%d node(s): %d control plane, %d worker(s)", len(nodes.Items), cp, len(nodes.Items)-cp)
		if s.ExistingKubeconfig != "" {
			topology += ", existing cluster (E2E_KUBECONFIG)"
		} else if s.KindConfig != "" {
			topology += ", kind config " + filepath.Base(s.KindConfig)
		}
	}
	s.Report.Describe(func(h *report.Header) { h.ServerVersion, h.Topology = version, topology })
}

// gitRevision is the revision of the git work tree holding path, "+dirty"
// when it has changes, or why it is unknown.
func gitRevision(path string) string {
	dir := path
	if !isDir(dir) {
		dir = filepath.Dir(dir)
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "not in a git work tree"
	}
	rev := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output()
	if err == nil && len(strings.TrimSpace(string(status))) > 0 {
		rev += "+dirty"
	}
	return rev
}

// digest is the sha256 of the set's objects as rendered, in order: two
// runs with the same digest applied the same objects.
func digest(set *manifests.Set) string {
	h := sha256.New()
	for _, o := range set.Objects {
		raw, err := json.Marshal(o.Object)
		if err != nil {
			return "not computed: " + err.Error()
		}
		h.Write(raw)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
