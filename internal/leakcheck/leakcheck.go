// Package leakcheck looks for the live tier's fake secret values in a run's
// artifacts: every file under $ARTIFACTS (JUnit XML, report.json and
// report.html, evidence, logs, the captured output of `make conformance`).
// Each value is looked for as written and in the encodings a leak takes on
// its way out: standard and URL-safe base64, padded or not (as a Secret's
// data or a log line would carry it), JSON and XML escaping (as report.json
// and JUnit XML would carry it). A gzip file is read decompressed.
//
// Not covered: a value's base64 inside a longer base64 blob (a whole Secret
// manifest base64-encoded, say) starts at an offset that need not be a
// multiple of three bytes, so its encoding differs with every neighbour; a
// value is found there only when it happens to start on such a boundary.
//
// A leak names the file and the fake key, never the value.
package leakcheck

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Needle is one fake value in one form.
type Needle struct {
	Key  string // the fake key, e.g. OPENAI_API_KEY
	Form string // plain, base64, base64url, json, xml
	text []byte
}

// MinValueLen is the shortest fake value looked for; a shorter one would
// match by chance and say nothing (every fixture value is longer).
const MinValueLen = 8

// Needles returns every form of every fake value, each form once.
func Needles(fake map[string]string) ([]Needle, error) {
	var out []Needle
	for _, k := range slices.Sorted(maps.Keys(fake)) {
		v := fake[k]
		if len(v) < MinValueLen {
			return nil, fmt.Errorf("leakcheck: fake value of %s is shorter than %d bytes; too short to look for", k, MinValueLen)
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var x bytes.Buffer
		if err := xml.EscapeText(&x, []byte(v)); err != nil {
			return nil, err
		}
		// Unpadded base64 is a prefix of the padded form: looking for it
		// finds both.
		forms := []struct{ name, text string }{
			{"plain", v},
			{"base64", base64.RawStdEncoding.EncodeToString([]byte(v))},
			{"base64url", base64.RawURLEncoding.EncodeToString([]byte(v))},
			{"JSON-escaped", string(js[1 : len(js)-1])},
			{"XML-escaped", x.String()},
		}
		seen := map[string]bool{}
		for _, f := range forms {
			if !seen[f.text] {
				seen[f.text] = true
				out = append(out, Needle{Key: k, Form: f.name, text: []byte(f.text)})
			}
		}
	}
	return out, nil
}

// Leak is one fake value found in one file.
type Leak struct {
	File string // relative to the root scanned
	Key  string
	Form string
}

func (l Leak) String() string {
	return fmt.Sprintf("%s: holds the fake value of %s (%s)", l.File, l.Key, l.Form)
}

// Result is what a scan saw.
type Result struct {
	Files   int      // regular files read
	Skipped []string // entries that are not regular files (symlinks, FIFOs...)
	Leaks   []Leak
}

// Scan reads every regular file below root and reports each needle found.
// Symlinks are not followed (an artifact link could point anywhere); they
// are listed as skipped.
func Scan(root string, needles []Needle) (Result, error) {
	var r Result
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if !d.Type().IsRegular() {
			r.Skipped = append(r.Skipped, rel)
			return nil
		}
		r.Files++
		found, err := scanFile(p, needles)
		if err != nil {
			return fmt.Errorf("leakcheck: %s: %w", p, err)
		}
		for _, n := range found {
			r.Leaks = append(r.Leaks, Leak{File: rel, Key: n.Key, Form: n.Form})
		}
		return nil
	})
	return r, err
}

// chunk is how much of a file is held at once; a file of any size is read
// in chunks that overlap by the longest needle, so none is missed at a seam.
const chunk = 1 << 20

func scanFile(path string, needles []Needle) ([]Needle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		in = gz
	}
	return scanReader(in, needles)
}

func scanReader(in io.Reader, needles []Needle) ([]Needle, error) {
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n.text)-1)
	}
	found := make([]bool, len(needles))
	buf := make([]byte, 0, chunk+overlap)
	for {
		n, err := io.ReadFull(in, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for i, nd := range needles {
			if !found[i] && bytes.Contains(buf, nd.text) {
				found[i] = true
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		keep := min(overlap, len(buf))
		copy(buf, buf[len(buf)-keep:])
		buf = buf[:keep]
	}
	var out []Needle
	for i, f := range found {
		if f {
			out = append(out, needles[i])
		}
	}
	return out, nil
}
