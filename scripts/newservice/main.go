// Command newservice adds a service to the repository the way the existing
// ones are built, or removes one it added (make new-service, make
// remove-service):
//
//	go run ./scripts/newservice add -name reviews [-path /api/reviews] [-db]
//	go run ./scripts/newservice remove -name reviews
//
// It writes apps/<name>/, the entry in platform/routing's declaration, the
// Compose service and the go.work line. The edge, the ALB rules and every AWS
// resource follow from the declaration. A request it refuses writes nothing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return errors.New("usage: newservice add -name NAME [-path /api/NAME] [-db] | remove -name NAME")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	name := fs.String("name", "", "service name: a DNS label")
	path := fs.String("path", "", "path prefix routed to the service (default /api/NAME)")
	db := fs.String("db", "", `"yes" to give the service a PostgreSQL schema and migrations`)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	repo := Repo{Root: *root}
	if args[0] == "remove" {
		if err := repo.Remove(*name); err != nil {
			return fmt.Errorf("remove-service: %w", err)
		}
		fmt.Fprintf(stderr, "removed service %s\n", *name)
		return nil
	}
	var database bool
	switch strings.ToLower(*db) {
	case "", "no", "false":
	case "yes", "true":
		database = true
	default:
		return fmt.Errorf("new-service: DB=%q: want yes or no", *db)
	}
	spec, err := repo.Plan(*name, *path, database)
	if err != nil {
		return fmt.Errorf("new-service: %w", err)
	}
	if err := repo.Add(spec, goModTidy); err != nil {
		return fmt.Errorf("new-service: %w", err)
	}
	fmt.Fprintf(stderr, "added service %s: apps/%s, routes %s, priority %d\n",
		spec.Name, spec.Name, strings.Join(spec.Paths, " "), spec.Priority)
	return nil
}

// goModTidy completes the new module's go.sum from the module cache (every
// dependency is one the other apps already use), or through GOPROXY when
// the cache lacks one. GOWORK=off: the image builds the module alone.
func goModTidy(dir string) error {
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go mod tidy in %s: %w\n%s", filepath.Base(dir), err, out)
	}
	return nil
}
