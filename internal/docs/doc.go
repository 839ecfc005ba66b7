// Package docs holds the tests that keep README.md and docs/*.md true to the
// repository: every make target and environment variable they name exists
// (in the Makefile, a script or the Go code), every relative link resolves,
// `make help` lists every target, and .ci/run runs the README's two commands.
package docs
