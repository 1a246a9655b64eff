package notify_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryDestinationRunsConformance finds every destination package under
// internal/notify (a package with a type whose method is Notify(context.Context,
// ...*finding.Finding) (bool, error)) and checks that its tests run
// notifytest.Conformance, once per such type: a new destination cannot skip the checks on
// secrets, error types and retry verdicts.
func TestEveryDestinationRunsConformance(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "testdata" {
			continue
		}
		notifiers, calls := scanPackage(t, d.Name())
		if len(notifiers) == 0 {
			continue
		}
		found++
		if calls < len(notifiers) {
			t.Errorf("package %s has %d notifier(s) (%s) but its tests call notifytest.Conformance %d time(s)",
				d.Name(), len(notifiers), strings.Join(notifiers, ", "), calls)
		}
	}
	if found < 4 {
		t.Errorf("found %d destination packages; slack, sns, webhook and stdout at least should be there", found)
	}
}

// scanPackage returns the types of dir's non-test files that have a Notify method of the
// Notifier shape, and how many calls to notifytest.Conformance its test files make.
func scanPackage(t *testing.T, dir string) (notifiers []string, calls int) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(path, "_test.go") {
			ast.Inspect(f, func(n ast.Node) bool {
				if c, ok := n.(*ast.CallExpr); ok {
					if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Conformance" {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "notifytest" {
							calls++
						}
					}
				}
				return true
			})
			continue
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv != nil && fn.Name.Name == "Notify" && notifierShape(fn.Type) {
				notifiers = append(notifiers, receiverName(fn.Recv.List[0].Type))
			}
		}
	}
	return notifiers, calls
}

// notifierShape: (context.Context, ...*finding.Finding) (bool, error).
func notifierShape(ft *ast.FuncType) bool {
	if ft.Params == nil || ft.Results == nil || len(ft.Results.List) != 2 {
		return false
	}
	var params []ast.Expr
	for _, p := range ft.Params.List {
		for range max(1, len(p.Names)) {
			params = append(params, p.Type)
		}
	}
	if len(params) != 2 {
		return false
	}
	ell, ok := params[1].(*ast.Ellipsis)
	return ok && exprString(ell.Elt) == "*finding.Finding" && exprString(params[0]) == "context.Context"
}

func receiverName(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	return exprString(e)
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	}
	return ""
}
