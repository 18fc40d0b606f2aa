package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The database floor must ask what the catalog asks, on a pool of the
// catalog's size. bench cannot import the catalog's internal packages, so
// these tests read the catalog's source.

const catalogStore = "../apps/catalog/internal/postgres"

func TestFloorQueryIsCatalogs(t *testing.T) {
	got, err := catalogProductQuery(catalogStore)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(strings.Fields(got), " ") != productQuery {
		t.Errorf("catalog's Store.Product asks\n %s\nthe database floor asks\n %s\nchange productQuery in bench/floor.go to match", got, productQuery)
	}
}

func TestFloorPoolIsCatalogs(t *testing.T) {
	got, err := intDefault("../apps/catalog/main.go", "DB_MAX_CONNS")
	if err != nil {
		t.Fatal(err)
	}
	if got != catalogMaxConns {
		t.Errorf("catalog's DB_MAX_CONNS default is %d, bench's catalogMaxConns %d", got, catalogMaxConns)
	}
}

// TestCatalogSource checks the source readers above on code of known
// shape, so that their failure in the tests above means the catalog
// changed, not that they read nothing.
func TestCatalogSource(t *testing.T) {
	dir := t.TempDir()
	src := "package postgres\n\nconst cols = `a, b`\nconst table = ` FROM t`\n\n" +
		"func (s *Store) Product(ctx context.Context, id int) error {\n" +
		"\treturn s.pool.QueryRow(ctx, `SELECT `+cols+table+`\n\t\tWHERE id = $1`, id).Scan()\n}\n\n" +
		"func settings() { _ = e.Int(\"DB_MAX_CONNS\", 7, 1, 1000) }\n"
	if err := os.WriteFile(filepath.Join(dir, "store.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := catalogProductQuery(dir)
	if err != nil || strings.Join(strings.Fields(q), " ") != "SELECT a, b FROM t WHERE id = $1" {
		t.Errorf("query: got %q, %v", q, err)
	}
	n, err := intDefault(filepath.Join(dir, "store.go"), "DB_MAX_CONNS")
	if err != nil || n != 7 {
		t.Errorf("default: got %d, %v; want 7", n, err)
	}
	if _, err := intDefault(filepath.Join(dir, "store.go"), "OTHER"); err == nil {
		t.Error("default of a variable the file does not read: got no error")
	}
}

// catalogProductQuery returns the SQL that (*Store).Product in the Go
// package at dir passes to the database: its first string argument that
// starts with SELECT, a concatenation of literals and package constants.
func catalogProductQuery(dir string) (string, error) {
	fset := token.NewFileSet()
	var files []*ast.File
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return "", err
		}
		files = append(files, f)
	}
	consts := map[string]ast.Expr{}
	var product *ast.FuncDecl
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == "Product" && d.Recv != nil && len(d.Recv.List) == 1 {
					if star, ok := d.Recv.List[0].Type.(*ast.StarExpr); ok {
						if id, ok := star.X.(*ast.Ident); ok && id.Name == "Store" {
							product = d
						}
					}
				}
			}
		}
	}
	if product == nil {
		return "", fmt.Errorf("no (*Store).Product in %s", dir)
	}
	var query string
	ast.Inspect(product.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || query != "" {
			return query == ""
		}
		for _, arg := range call.Args {
			if s, err := constString(arg, consts); err == nil && strings.HasPrefix(strings.TrimSpace(s), "SELECT") {
				query = s
				return false
			}
		}
		return true
	})
	if query == "" {
		return "", fmt.Errorf("(*Store).Product in %s passes no constant SELECT", dir)
	}
	return query, nil
}

// constString evaluates a string made of literals, + and the constants in
// consts.
func constString(e ast.Expr, consts map[string]ast.Expr) (string, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", fmt.Errorf("not a string: %s", e.Value)
		}
		return strconv.Unquote(e.Value)
	case *ast.Ident:
		v, ok := consts[e.Name]
		if !ok {
			return "", fmt.Errorf("%s is not a constant of the package", e.Name)
		}
		return constString(v, consts)
	case *ast.ParenExpr:
		return constString(e.X, consts)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", fmt.Errorf("operator %s in a string", e.Op)
		}
		a, err := constString(e.X, consts)
		if err != nil {
			return "", err
		}
		b, err := constString(e.Y, consts)
		return a + b, err
	}
	return "", fmt.Errorf("not a constant string: %T", e)
}

// intDefault returns the default of the integer setting name in the Go file
// path: the literal after "name" in its first call with that argument
// (config's e.Int(name, default, min, max)).
func intDefault(path, name string) (int, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return 0, err
	}
	found, n := false, 0
	ast.Inspect(f, func(node ast.Node) bool {
		call, ok := node.(*ast.CallExpr)
		if !ok || found || len(call.Args) < 2 {
			return !found
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); !ok || lit.Value != strconv.Quote(name) {
			return true
		}
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.INT {
			n, err = strconv.Atoi(lit.Value)
			found = err == nil
		}
		return !found
	})
	if !found {
		return 0, fmt.Errorf("%s: no call with %q and a literal default", path, name)
	}
	return n, nil
}
