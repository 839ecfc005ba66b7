// Command runc-capdrop is an OCI runtime shim for dockerd on hosts whose
// capability bounding set lacks capabilities that privileged containers ask
// for (kind's node containers are privileged). It removes those capabilities
// from the container's process spec, then execs the real runc with the same
// arguments. On "create"/"run" it edits the bundle's config.json; on "exec" the
// --process JSON. Everything else passes through untouched.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/puretasks/k8s-conformance/internal/hostcaps"
)

// realRuntime is Debian's runc; RUNC_CAPDROP_REAL overrides it.
const realRuntime = "/usr/sbin/runc"

func main() {
	if err := rewrite(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "runc-capdrop: %v\n", err)
		os.Exit(1)
	}
	real := realRuntime
	if v := os.Getenv("RUNC_CAPDROP_REAL"); v != "" {
		real = v
	}
	argv := append([]string{real}, os.Args[1:]...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-capdrop: exec %s: %v\n", real, err)
		os.Exit(1)
	}
}

// rewrite finds the spec file the runc command will read and drops the
// capabilities the bounding set lacks from it.
func rewrite(args []string) error {
	missing, err := hostcaps.MissingFromBounding()
	if err != nil || len(missing) == 0 {
		return err
	}
	cmd, rest := subcommand(args)
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		return dropFromFile(filepath.Join(bundle, "config.json"), missing, true)
	case "exec":
		if p := flagValue(rest, "process", "p"); p != "" {
			return dropFromFile(p, missing, false)
		}
	}
	return nil
}

// subcommand returns the first non-flag argument and what follows it. runc's
// global flags that take a value are listed so their values are not mistaken
// for the subcommand.
func subcommand(args []string) (string, []string) {
	valued := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if valued[a] {
			i++
		}
	}
	return "", nil
}

// flagValue finds --long/-short in its "--x v", "--x=v" and "-x v" forms.
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		for _, f := range []string{"--" + long, "-" + long, "-" + short} {
			if a == f && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, f+"="); ok {
				return v
			}
		}
	}
	return ""
}

// dropFromFile edits the capability sets of an OCI config.json (process
// nested) or a process.json (top level), keeping every other field as is.
func dropFromFile(path string, missing []string, nested bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := doc
	if nested {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		proc = p
	}
	caps, ok := proc["capabilities"].(map[string]any)
	if !ok {
		return nil
	}
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		caps[set] = slices.DeleteFunc(list, func(c any) bool {
			s, _ := c.(string)
			return slices.Contains(missing, s)
		})
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}
