package staticcheck

import (
	"strings"
	"syscall"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op beside wall time: on a shared machine the wall figure grows with the
// load, the CPU figure much less.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func loopWithCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkChecks is every static check over one loaded set (goal: at most
// 5 ms/op), the credential scan included; the detector is built before.
func BenchmarkChecks(b *testing.B) {
	if _, err := credentialDetector(); err != nil {
		b.Fatal(err)
	}
	for p, s := range repoSets(b) {
		b.Run(string(p), func(b *testing.B) {
			loopWithCPU(b, func() {
				if r := Run(s, p); len(r.Failed()) > 0 {
					b.Fatal(r.Failed())
				}
			})
		})
	}
}

// BenchmarkCredentialScan is SEC-2 alone over one loaded set: collecting the
// values and running the rules on each.
func BenchmarkCredentialScan(b *testing.B) {
	if _, err := credentialDetector(); err != nil {
		b.Fatal(err)
	}
	chk := sec2(b)
	for p, s := range repoSets(b) {
		b.Run(string(p), func(b *testing.B) {
			loopWithCPU(b, func() {
				if f := RunOne(chk, s, p); len(f) > 0 {
					b.Fatal(f)
				}
			})
		})
	}
}

// BenchmarkCredentialDetectorBuild is the one-off cost credentialDetector
// pays once per process: parsing and compiling gitleaks' default rules.
func BenchmarkCredentialDetectorBuild(b *testing.B) {
	loopWithCPU(b, func() {
		if _, err := detect.NewDetectorDefaultConfig(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCredentialScanLargeValue is the scan of one 1 MiB value (the API
// server's cap for a ConfigMap), read in gitleaks' file chunks.
func BenchmarkCredentialScanLargeValue(b *testing.B) {
	d, err := credentialDetector()
	if err != nil {
		b.Fatal(err)
	}
	line := scanLine(scannedValue{context: "dashboard.json", text: strings.Repeat(`{"panel": "requests per second", "datasource": "prometheus"}`+"\n", maxDataBytes/61)})
	b.SetBytes(int64(len(line)))
	loopWithCPU(b, func() {
		if _, err := detectRules(d, line); err != nil {
			b.Fatal(err)
		}
	})
}
