// Package kubeversion is the one place the target Kubernetes version lives.
// The Helm render's .Capabilities.KubeVersion, the API versions the static
// tier judges as served, and the node image the live tier runs all read it,
// so the three tiers can never judge against different releases.
// K8S_VERSION overrides it for all of them at once.
package kubeversion

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Env selects the target version: a supported minor ("1.37", "v1.37") or
// one of its exact releases ("v1.37.2").
const Env = "K8S_VERSION"

// Release is one supported Kubernetes release.
type Release struct {
	// Version is the k8s.io/kubernetes release the hermetic node image is
	// built from (a version the Go module proxy serves).
	Version string
	// Upstream is the published kind node image of the same minor, used by
	// the workflows and when a registry answers.
	Upstream string
}

// Supported are the three newest minors the module proxy serves, oldest
// first. The last-but-one is the default: its hermetic build is the one
// measured on the project's machines.
var Supported = []Release{
	{Version: "v1.35.4", Upstream: "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"},
	{Version: "v1.36.3", Upstream: "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"},
	{Version: "v1.37.2", Upstream: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"},
}

// Default is the release every tier targets when K8S_VERSION is unset.
var Default = Supported[1]

// Minor returns 36 for v1.36.3.
func (r Release) Minor() int {
	_, minor, _ := parse(r.Version)
	return minor
}

// MajorMinor returns "1.36" for v1.36.3.
func (r Release) MajorMinor() string { return fmt.Sprintf("1.%d", r.Minor()) }

// Staging returns v0.36.3 for v1.36.3: the version of the staging modules
// (k8s.io/api, client-go, ...) released with it.
func (r Release) Staging() string { return "v0." + strings.TrimPrefix(r.Version, "v1.") }

// Target is the release selected by K8S_VERSION, or Default.
func Target() (Release, error) {
	return Select(os.Getenv(Env))
}

// Select resolves a K8S_VERSION value: empty is Default; a minor picks that
// minor's supported release; an exact version must be one of Supported.
func Select(v string) (Release, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Default, nil
	}
	major, minor, patch := parse(v)
	if major == 1 && minor > 0 {
		for _, r := range Supported {
			if r.Minor() != minor {
				continue
			}
			if patch < 0 || r.Version == "v"+strings.TrimPrefix(v, "v") {
				return r, nil
			}
		}
	}
	return Release{}, fmt.Errorf("%s=%q: not a supported Kubernetes version (supported: %s; give a minor such as %s or one of those releases)",
		Env, v, supportedList(), Default.MajorMinor())
}

func supportedList() string {
	var s []string
	for _, r := range Supported {
		s = append(s, r.Version)
	}
	return strings.Join(s, ", ")
}

// parse reads "v1.36.3", "1.36.3", "1.36" or "v1.36"; patch is -1 when
// absent, and major 0 when the text is not a version.
func parse(v string) (major, minor, patch int) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, -1
	}
	nums := make([]int, 3)
	nums[2] = -1
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return 0, 0, -1
		}
		nums[i] = n
	}
	return nums[0], nums[1], nums[2]
}
