package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// GoBench is one line of `go test -bench -benchmem` output.
type GoBench struct {
	Pkg         string
	Name        string // without the -GOMAXPROCS suffix
	NsPerOp     float64
	BytesPerOp  int64
	AllocsPerOp int64
	// Reported by the tracing benchmarks (b.ReportMetric); 0 elsewhere.
	CPUNsPerOp float64 // cpu-ns/op: the process's CPU time per operation
	SpansPerOp float64 // spans/op: spans exported per operation
}

// benchPackages lists the package directories (relative to root, "./"
// prefixed) under dirs whose tests hold a Benchmark function.
func benchPackages(root string, dirs ...string) ([]string, error) {
	seen := map[string]bool{}
	var pkgs []string
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) {
				return filepath.SkipDir
			}
			if e.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !strings.Contains(string(b), "\nfunc Benchmark") {
				return nil
			}
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			if p := "./" + filepath.ToSlash(rel); !seen[p] {
				seen[p] = true
				pkgs = append(pkgs, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return pkgs, nil
}

// runGoBench runs the benchmarks of pkgs that match pattern once with
// -benchmem from root (the workspace) and parses the results.
func runGoBench(ctx context.Context, root string, pkgs []string, pattern, benchtime string, log io.Writer) ([]GoBench, error) {
	return runGoBenchSkip(ctx, root, pkgs, pattern, "", benchtime, log)
}

// runGoBenchSkip is runGoBench leaving out the benchmarks matching skip
// ("" skips none).
func runGoBenchSkip(ctx context.Context, root string, pkgs []string, pattern, skip, benchtime string, log io.Writer) ([]GoBench, error) {
	if len(pkgs) == 0 {
		return nil, nil
	}
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime, "-count", "1"}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	_, _ = log.Write(out)
	return parseGoBench(strings.NewReader(string(out)))
}

func parseGoBench(r io.Reader) ([]GoBench, error) {
	var (
		out []GoBench
		pkg string
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := GoBench{Pkg: pkg, Name: f[0]}
		if i := strings.LastIndex(b.Name, "-"); i > 0 {
			if _, err := strconv.Atoi(b.Name[i+1:]); err == nil {
				b.Name = b.Name[:i]
			}
		}
		// After the name and the iteration count come "value unit" pairs.
		for i := 2; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp, _ = strconv.ParseFloat(f[i], 64)
			case "B/op":
				b.BytesPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			case "allocs/op":
				b.AllocsPerOp, _ = strconv.ParseInt(f[i], 10, 64)
			case "cpu-ns/op":
				b.CPUNsPerOp, _ = strconv.ParseFloat(f[i], 64)
			case "spans/op":
				b.SpansPerOp, _ = strconv.ParseFloat(f[i], 64)
			}
		}
		out = append(out, b)
	}
	return out, sc.Err()
}
