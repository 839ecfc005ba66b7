package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// MaxFileBytes caps the size of any one file the loader reads (manifests,
// kustomizations, patches, generator inputs). It is the Kubernetes API
// server's request-body limit, 3 MiB (k8s.io/apiserver
// DefaultMaxRequestSizeBytes): `kubectl apply` sends each object in its own
// request, so no object bigger than this can ever be applied, and etcd's
// 1.5 MiB value limit is lower still. A manifests file of several times the
// app's size (a few KiB) fits with a wide margin; a file over the cap is a
// build output, a dump or a device, and reading it whole is what made a
// 200 MB file take 19 s and 1.7 GB, so it is refused before it is read.
const MaxFileBytes = 3 << 20

// readFile reads one input file with bounded time and memory: only a regular
// file (not a FIFO, device, socket or directory, also when reached through a
// symlink), at most MaxFileBytes of it. The file is opened non-blocking and
// checked on the open descriptor, so a FIFO cannot hang the open and a file
// swapped between a stat and the open is still checked.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("manifests: %s: %w", path, err)
	}
	if err := requireRegular(path, st); err != nil {
		return nil, err
	}
	if st.Size() > MaxFileBytes {
		return nil, tooBig(path, fmt.Sprintf("%d bytes", st.Size()))
	}
	// The size can grow between the stat and the read (or lie, as files
	// under /proc do): the LimitReader keeps memory bounded regardless.
	raw, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("manifests: reading %s: %w", path, err)
	}
	if len(raw) > MaxFileBytes {
		return nil, tooBig(path, "more than that")
	}
	return raw, nil
}

func tooBig(path, size string) error {
	return fmt.Errorf("manifests: %s is %s; the limit is %d bytes (3 MiB, the Kubernetes API server's request-body limit: no object larger can be applied), so it is not read", path, size, MaxFileBytes)
}

// requireRegular refuses anything but a regular file, naming what it is.
func requireRegular(path string, st fs.FileInfo) error {
	m := st.Mode()
	var what string
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	default:
		what = "not a regular file (" + m.Type().String() + ")"
	}
	return fmt.Errorf("manifests: %s is %s, not a regular file; only regular files are read as manifests", path, what)
}

// openError turns the errors of opening an input into messages naming the
// file and the cause a person can fix.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("manifests: %s: symlink loop (too many levels of symbolic links); fix or remove the link", path)
	case errors.Is(err, fs.ErrNotExist):
		if _, lerr := os.Lstat(path); lerr == nil {
			return fmt.Errorf("manifests: %s is a symlink to a file that does not exist", path)
		}
		return fmt.Errorf("manifests: %s does not exist", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("manifests: %s: permission denied: the suite cannot read it (check the file's mode and owner, and its directories')", path)
	}
	if st, serr := os.Stat(path); serr == nil && !st.Mode().IsRegular() {
		return requireRegular(path, st) // a socket cannot be opened (ENXIO)
	}
	return fmt.Errorf("manifests: %w", err)
}

// asKubectlReads decodes a file's bytes as kubectl's FileVisitor does before
// parsing (cli-runtime: unicode.BOMOverride(unicode.UTF8.NewDecoder())): a
// UTF-8 byte order mark is dropped, and a file with a UTF-16 byte order mark
// is converted to UTF-8, so its "---" separators and its JSON are seen as
// kubectl sees them (read as raw bytes, a UTF-16 file's later documents were
// dropped). Content without a byte order mark is returned as it is.
func asKubectlReads(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}) && !bytes.HasPrefix(raw, []byte{0xFE, 0xFF}) && !bytes.HasPrefix(raw, []byte{0xFF, 0xFE}) {
		return raw
	}
	out, _, err := transform.Bytes(unicode.BOMOverride(unicode.UTF8.NewDecoder()), raw)
	if err != nil {
		return raw // left to the parser, which names what is wrong
	}
	return out
}

// statInput is os.Stat with openError's messages.
func statInput(path string) (fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, openError(path, err)
	}
	return st, nil
}
