// Package imagetar writes container images without a daemon or a registry:
// deterministic tar layers (a directory tree plus entries laid over it) and
// docker-loadable image archives built with go-containerregistry.
package imagetar

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Entry is one file, directory or symlink that a layer adds on top of (or
// instead of) what the tree it walks holds.
type Entry struct {
	Path     string // relative, no leading slash
	Type     byte   // tar.TypeReg, tar.TypeDir, tar.TypeSymlink
	Mode     int64
	Data     []byte // file content, or
	SrcFile  string // a file on disk to copy (large binaries)
	Linkname string
}

func File(p string, mode int64, data []byte) Entry {
	return Entry{Path: p, Type: tar.TypeReg, Mode: mode, Data: data}
}
func Copy(p string, mode int64, src string) Entry {
	return Entry{Path: p, Type: tar.TypeReg, Mode: mode, SrcFile: src}
}
func Dir(p string) Entry { return Entry{Path: p, Type: tar.TypeDir, Mode: 0o755} }
func Symlink(p, target string) Entry {
	return Entry{Path: p, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target}
}

// LayerSpec describes a single image layer: an optional directory tree, paths
// of that tree to leave out, and entries that take precedence over the tree.
type LayerSpec struct {
	Root    string
	Skip    func(rel string) bool
	Entries []Entry
}

// Epoch is the modification time of every generated entry, so that layers
// built from the same inputs are identical.
var Epoch = time.Unix(0, 0).UTC()

// virtualDirs are mounted over at run time; only the directories themselves
// belong in an image.
var virtualDirs = []string{"dev", "proc", "sys", "run", "tmp"}

func WriteLayerFile(dst string, spec LayerSpec) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := WriteLayer(f, spec); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteLayer writes the layer as an uncompressed tar stream.
func WriteLayer(w io.Writer, spec LayerSpec) error {
	tw := tar.NewWriter(w)
	overlay := map[string]Entry{}
	for _, e := range spec.Entries {
		overlay[e.Path] = e
	}
	inTree := map[string]bool{}
	if spec.Root != "" {
		if err := writeTree(tw, spec, overlay, inTree); err != nil {
			return err
		}
	}
	// Parents of overlay entries that the tree lacks become entries too; one
	// lexical sort then puts every parent before its children.
	for p := range maps.Clone(overlay) {
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := overlay[dir]; !ok && !inTree[dir] {
				overlay[dir] = Dir(dir)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(overlay)) {
		if err := writeEntry(tw, overlay[p]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeTree(tw *tar.Writer, spec LayerSpec, overlay map[string]Entry, inTree map[string]bool) error {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	return filepath.WalkDir(spec.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(spec.Root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, v := range virtualDirs {
			if strings.HasPrefix(rel, v+"/") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		if _, replaced := overlay[rel]; replaced || (spec.Skip != nil && spec.Skip(rel)) {
			if d.IsDir() && !replaced {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(fs.ModeDevice|fs.ModeSocket|fs.ModeNamedPipe|fs.ModeCharDevice) != 0 {
			return nil
		}
		link := ""
		if mode&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
			inTree[rel] = true
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if mode.IsRegular() && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := seen[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
					return tw.WriteHeader(hdr)
				}
				seen[key] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !mode.IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

func writeEntry(tw *tar.Writer, e Entry) error {
	hdr := &tar.Header{Name: e.Path, Typeflag: e.Type, Mode: e.Mode, ModTime: Epoch, Linkname: e.Linkname}
	var src io.Reader
	switch e.Type {
	case tar.TypeDir:
		hdr.Name += "/"
	case tar.TypeReg:
		if e.SrcFile != "" {
			f, err := os.Open(e.SrcFile)
			if err != nil {
				return fmt.Errorf("layer entry %s: %w", e.Path, err)
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return err
			}
			hdr.Size, src = info.Size(), f
		} else {
			hdr.Size, src = int64(len(e.Data)), bytes.NewReader(e.Data)
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry %s: %w", e.Path, err)
	}
	if src != nil {
		if _, err := io.Copy(tw, src); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Path, err)
		}
	}
	return nil
}
