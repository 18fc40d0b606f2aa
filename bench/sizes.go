package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fargateshop/shop/systemtest/harness"
)

// imageBuildFlags are the go build flags of apps/Dockerfile.
var imageBuildFlags = []string{"-tags", "nomsgpack", "-trimpath", "-ldflags", "-s -w"}

// sizes adds binary sizes (as benchmarked, and as built for the images)
// and, when Docker has them, image sizes.
func (b *bench) sizes(ctx context.Context, root string, bins map[string]string, dir string) error {
	args := append(append([]string{"build"}, imageBuildFlags...), "-o", dir+string(filepath.Separator))
	for _, name := range harness.Services {
		args = append(args, "./apps/"+name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	for _, name := range harness.Services {
		plain, err1 := os.Stat(bins[name])
		image, err2 := os.Stat(filepath.Join(dir, name))
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		b.table.Add("Binary "+name+": as benchmarked; with the image's flags (-trimpath -s -w, nomsgpack)",
			mib(plain.Size())+"; "+mib(image.Size()))
	}
	found, ok := images(ctx, harness.Services)
	for _, name := range harness.Services {
		img, built := found[name]
		switch {
		case !ok:
			b.table.Add("Image "+name, "n/a: no Docker engine answered")
		case !built:
			b.table.Add("Image "+name, "n/a: not built (make stack builds it)")
		default:
			base := "public base images"
			if img.standin {
				base = "stand-in base images (scripts/standin-images.sh), not the public ones"
			}
			b.table.Check("Image "+name, mb(img.size)+", on "+base, "≤ 20 MB", img.size <= budgetImageMB*1e6)
		}
	}
	return nil
}

// image is what bench reports of a service's image.
type image struct {
	size    int64 // bytes
	standin bool  // built FROM a stand-in base image (scripts/standin-images.sh)
}

// standinLabel marks images built FROM scripts/standin-images.sh's bases.
const standinLabel = "fargateshop.standin"

// images returns each service's image built by Compose (a repository named
// <service>, or ending in -<service> or /<service>), newest first. ok is
// false when no Docker engine answers.
func images(ctx context.Context, services []string) (found map[string]image, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "image", "ls", "--format", "{{.Repository}}\t{{.Tag}}\t{{.ID}}").Output()
	if err != nil {
		return nil, false
	}
	found = map[string]image{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] == "<none>" {
			continue
		}
		for _, svc := range services {
			if _, seen := found[svc]; seen || !(f[0] == svc || strings.HasSuffix(f[0], "-"+svc) || strings.HasSuffix(f[0], "/"+svc)) {
				continue
			}
			if img, err := inspectImage(ctx, f[2]); err == nil {
				found[svc] = img
			}
		}
	}
	return found, true
}

func inspectImage(ctx context.Context, id string) (image, error) {
	b, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format",
		`{{.Size}} {{index .Config.Labels "`+standinLabel+`"}}`, id).Output()
	if err != nil {
		return image{}, err
	}
	size, label, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil {
		return image{}, fmt.Errorf("docker image inspect %s: %w", id, err)
	}
	return image{size: n, standin: label != "" && label != "<no value>"}, nil
}
