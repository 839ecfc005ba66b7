package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// EnvReplaceNamespaces lets a run on an existing cluster delete a todo-app
// namespace (or a namespace an earlier run of the suite left) before it
// starts, instead of refusing.
const EnvReplaceNamespaces = "E2E_REPLACE_NAMESPACES"

// setupExisting prepares a run on a cluster the suite did not create
// ($E2E_KUBECONFIG): nothing is created or deleted but what the run makes,
// and what would make a check fail for reasons of the cluster, not of the
// manifests, is refused at once with the way out.
func (s *Suite) setupExisting(ctx context.Context) error {
	s.Kubeconfig = s.ExistingKubeconfig
	s.reaper.Existing(s.Kubeconfig, s.KubeContext)
	where := s.Kubeconfig
	if s.KubeContext != "" {
		where += ", context " + s.KubeContext
	}
	s.Report.Note("existing cluster (kubeconfig %s): not created, not deleted; the run removes what it creates", where)
	if err := s.clients(); err != nil {
		return err
	}
	var nodes []corev1.Node
	if err := s.phase("node Ready", 0, func() (err error) {
		list, err := s.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing nodes: %w", err)
		}
		nodes = list.Items
		return NodesReady(ctx, s.Clientset, len(nodes))
	}); err != nil {
		return err
	}
	if err := s.phase("namespaces free", 0, func() error { return s.namespacesFree(ctx) }); err != nil {
		return err
	}
	// The nodes' status lists images only after the kubelet's next status
	// update (measured: right after `make cluster` loaded them, the list did
	// not have them yet), so a name missing there is a warning. The hard,
	// equally fast failure is the first pod that cannot get its image:
	// WaitDeployment and ProbeJob stop at once on ErrImagePull or
	// ErrImageNeverPull, naming the image and the node, with ImageHint.
	if err := MissingImages(nodes, stubImages(), s.ImagesDir); err != nil {
		s.logf("WARNING (node status may lag): %v", err)
		s.Report.Note("warning, from the nodes' status (it may lag behind a fresh image load): %v", err)
	}
	return nil
}

// namespacesFree refuses a cluster that already has the app's namespace or
// one an earlier run of the suite left, unless EnvReplaceNamespaces is set,
// in which case it deletes them and waits until they are gone.
func (s *Suite) namespacesFree(ctx context.Context) error {
	taken, err := TakenNamespaces(ctx, s.Clientset)
	if err != nil || len(taken) == 0 {
		return err
	}
	if os.Getenv(EnvReplaceNamespaces) != "1" {
		return fmt.Errorf("the cluster already has namespace(s) %s: the run would apply into and then delete them; "+
			"point E2E_KUBECONFIG at a cluster without them, delete them (kubectl delete namespace %s), or set %s=1 to let the run delete them first",
			strings.Join(taken, ", "), strings.Join(taken, " "), EnvReplaceNamespaces)
	}
	s.Report.Note("%s=1: deleting namespace(s) %s before the run", EnvReplaceNamespaces, strings.Join(taken, ", "))
	return deleteCreated(ctx, s.Clientset, taken, nil, s.logf)
}

// TakenNamespaces lists the namespaces a run would collide with: the app's
// own, and every namespace labelled as made by this suite.
func TakenNamespaces(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	var taken []string
	_, err := cs.CoreV1().Namespaces().Get(ctx, spec.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		taken = append(taken, spec.Namespace)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("looking for namespace %s: %w", spec.Namespace, err)
	}
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=" + FieldOwner})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	for _, n := range list.Items {
		if !slices.Contains(taken, n.Name) {
			taken = append(taken, n.Name)
		}
	}
	return taken, nil
}

// removeCreated deletes what the run created on an existing cluster and
// waits for it to go. Already deleted is fine.
func (s *Suite) removeCreated(ctx context.Context) error {
	s.mu.Lock()
	nss, pvs := slices.Clone(s.createdNamespaces), slices.Clone(s.createdPVs)
	s.mu.Unlock()
	if cause := s.Gone(); cause != nil {
		return fmt.Errorf("namespaces %v and PVs %v not removed: %w", nss, pvs, cause)
	}
	return deleteCreated(context.WithoutCancel(ctx), s.Clientset, nss, pvs, s.logf)
}

// Created records a namespace the run made (for the final sweep on an
// existing cluster, and for the reaper).
func (s *Suite) created(namespace string) {
	s.mu.Lock()
	if !slices.Contains(s.createdNamespaces, namespace) {
		s.createdNamespaces = append(s.createdNamespaces, namespace)
	}
	s.mu.Unlock()
	s.reaper.Namespace(namespace)
}

// CreatedPersistentVolume records a cluster-scoped PV the run made: the run
// deletes it at its end on an existing cluster, and so does the reaper.
func (s *Suite) CreatedPersistentVolume(name string) {
	s.mu.Lock()
	if !slices.Contains(s.createdPVs, name) {
		s.createdPVs = append(s.createdPVs, name)
	}
	s.mu.Unlock()
	s.reaper.PersistentVolume(name)
}

// stubImages are the images the manifests run, as the nodes list them.
func stubImages() []stubimage.Stub { return stubimage.Stubs() }

// kubeletImageListCap is how many images a node's status lists at most
// (kubelet's --node-status-max-images default): a node listing this many
// may have more, so a missing name there proves nothing.
const kubeletImageListCap = 50

// MissingImages checks the schedulable nodes' status.images for every stub
// image and names each node that lacks one, with the commands that load
// them into kind and minikube. A node whose list may be truncated is not
// judged (the pod wait catches a pull failure at once instead).
func MissingImages(nodes []corev1.Node, stubs []stubimage.Stub, imagesDir string) error {
	var missing []string
	for _, n := range nodes {
		if tainted(n) || len(n.Status.Images) >= kubeletImageListCap {
			continue
		}
		for _, st := range stubs {
			if !nodeHasImage(n, st.Tag) {
				missing = append(missing, fmt.Sprintf("%s on node %s", st.Tag, n.Name))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("stub image(s) missing: " + strings.Join(missing, ", ") + ". " + LoadImagesHint(stubs, imagesDir))
}

// LoadImagesHint says how to build the stub images and load them into a
// kind or minikube cluster.
func LoadImagesHint(stubs []stubimage.Stub, imagesDir string) string {
	var kind, mk []string
	for _, st := range stubs {
		a := filepath.Join(imagesDir, st.ArchiveName())
		kind = append(kind, "kind load image-archive "+a+" --name <cluster>")
		mk = append(mk, "minikube image load "+a)
	}
	return "Build them with `make images` (writes " + imagesDir + "), then load them: for kind, " +
		strings.Join(kind, " && ") + " (`make cluster` does this for its own cluster); for minikube, " + strings.Join(mk, " && ")
}

// nodeHasImage matches a tag such as todo-backend:latest against the names a
// node reports (docker.io/library/todo-backend:latest and the like).
func nodeHasImage(n corev1.Node, tag string) bool {
	for _, img := range n.Status.Images {
		for _, name := range img.Names {
			if name == tag || strings.HasSuffix(name, "/"+tag) {
				return true
			}
		}
	}
	return false
}
