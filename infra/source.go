package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// buildSource is the Docker build context shared by every image: the
// repository root, as the apps' Dockerfiles expect.
type buildSource struct {
	Root string
	// Hash covers every file Docker sends as context. Image tags are derived
	// from it because the repositories are IMMUTABLE (ECR.2): a tag that
	// stayed the same while the code changed could not be pushed again, and
	// a tag that changed on every run would redeploy unchanged code.
	Hash string
}

// Dockerfile is the path of the Dockerfile every service's image is built
// from, told which service to build by BuildArgs.
func (b buildSource) Dockerfile() string {
	return filepath.Join(b.Root, "apps", "Dockerfile")
}

// BuildArgs are the build arguments of a service's image: the service the
// shared Dockerfile builds (it refuses to build without one) and the version
// the binary reports.
func (b buildSource) BuildArgs(service, version string) map[string]string {
	return map[string]string{"SERVICE": service, "VERSION": version}
}

// ImageTag is the tag of a service's image built for platform:
// <arch>-<hash of the context, the service's Dockerfile and the root path>.
// The Dockerfile is hashed separately because .dockerignore may keep it out
// of the context. The root path is in because the builder is given absolute
// paths: a checkout elsewhere rebuilds, and a rebuild must never reuse a tag
// (its digest can differ, e.g. after a base image update).
func (b buildSource) ImageTag(service, platform string) (string, error) {
	// The shared Dockerfile builds the module apps/<service>: without it the
	// build would fail minutes into pulumi up instead of here.
	if _, err := os.Stat(filepath.Join(b.Root, "apps", service, "go.mod")); err != nil {
		return "", fmt.Errorf("image of %s: no module apps/%s: %w", service, service, err)
	}
	dockerfile, err := os.ReadFile(b.Dockerfile())
	if err != nil {
		return "", fmt.Errorf("image of %s: %w", service, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", b.Hash, b.Root, platform)
	h.Write(dockerfile)
	arch := platform[strings.LastIndex(platform, "/")+1:]
	return fmt.Sprintf("%s-%s", arch, hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// findBuildSource locates the repository root (the directory holding go.work)
// from the working directory, which is infra/ under both `pulumi up` and
// `go test`, and hashes it.
func findBuildSource() (buildSource, error) {
	dir, err := os.Getwd()
	if err != nil {
		return buildSource{}, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			hash, err := hashContext(dir)
			return buildSource{Root: dir, Hash: hash}, err
		}
		up := filepath.Dir(dir)
		if up == dir {
			return buildSource{}, errors.New("build context: no go.work above the working directory")
		}
		dir = up
	}
}

// hashContext hashes the names and contents of the files Docker would send
// from root, applying root/.dockerignore. .git is never hashed.
func hashContext(root string) (string, error) {
	rules, err := readDockerignore(root)
	if err != nil {
		return "", err
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel != "." && rules.excludes(rel) && !rules.mayReinclude(rel) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && !rules.excludes(rel) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, rel := range files {
		f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ignoreRule is one .dockerignore line.
type ignoreRule struct {
	re        *regexp.Regexp
	exception bool   // the line started with "!"
	literal   string // the pattern up to its first wildcard
}

type ignoreRules []ignoreRule

// excludes applies the rules the way Docker does: in order, the last rule
// matching the path or one of its parent directories decides.
func (rules ignoreRules) excludes(rel string) bool {
	excluded := false
	for _, r := range rules {
		for p := rel; p != "." && p != "/"; p = path.Dir(p) {
			if r.re.MatchString(p) {
				excluded = !r.exception
				break
			}
		}
	}
	return excluded
}

// mayReinclude reports whether an exception could bring back a path under
// the excluded directory dir; if none can, the walk skips it. Conservative:
// an exception starting with a wildcard may match anywhere.
func (rules ignoreRules) mayReinclude(dir string) bool {
	for _, r := range rules {
		if r.exception && (r.literal == "" ||
			strings.HasPrefix(r.literal, dir+"/") || strings.HasPrefix(dir+"/", r.literal)) {
			return true
		}
	}
	return false
}

func readDockerignore(root string) (ignoreRules, error) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rules ignoreRules
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			rule.exception = true
			line = strings.TrimSpace(line[1:])
		}
		// Docker treats the context root as "/" and ignores trailing slashes.
		line = strings.Trim(path.Clean(filepath.ToSlash(line)), "/")
		rule.literal = line
		if i := strings.IndexAny(line, "*?[\\"); i >= 0 {
			rule.literal = line[:i]
		}
		rule.re, err = globRegexp(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %q: %w", line, err)
		}
		rules = append(rules, rule)
	}
	return rules, sc.Err()
}

// globRegexp translates a .dockerignore pattern: "*" and "?" stay within one
// path element, "**" spans any number of them.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(pattern[i:], ']')
			if end < 0 {
				return nil, errors.New("unterminated character class")
			}
			class := pattern[i : i+end+1]
			if strings.HasPrefix(class, "[!") {
				class = "[^" + class[2:] // glob negation, regexp spelling
			}
			b.WriteString(class)
			i += end
		case c == '\\' && i+1 < len(pattern):
			b.WriteString(regexp.QuoteMeta(pattern[i+1 : i+2]))
			i++
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
