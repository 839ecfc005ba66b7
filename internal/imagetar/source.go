package imagetar

import "embed"

// Source is this package's code, part of the content key of images built
// with it (a change to how layers are written is a change of recipe).
//
//go:embed *.go
var Source embed.FS
