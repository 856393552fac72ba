package arch

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rca-engine/api/"

type pkg struct {
	ImportPath string
	Imports    []string
}

// packages lists the module's packages with their direct imports (tests
// excluded: a test may reach across layers to set things up).
func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var list []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		list = append(list, p)
	}
	if len(list) < 10 {
		t.Fatalf("go list found only %d packages", len(list))
	}
	return list
}

func short(path string) string { return strings.TrimPrefix(path, module) }

var (
	leaves = []string{"internal/apperr", "internal/validate", "internal/lifecycle", "internal/dependency",
		"internal/faults", "internal/pgtest", "internal/textenc", "internal/archive", "internal/blob",
		"internal/analysis/logparse", "internal/analysis/redact", "internal/analysis/drain"}
	domain  = []string{"internal/eventlog", "internal/jobs", "internal/tickets", "internal/auth", "internal/idempotency", "internal/uploads"}
	upper   = []string{"internal/api", "internal/sse", "internal/events", "internal/metrics", "internal/config", "internal/worker"}
	drivers = []string{"github.com/jackc/pgx/v5", "internal/db"}
)

func isOutbound(p string) bool {
	return strings.HasPrefix(p, "internal/itsm/") || strings.HasPrefix(p, "internal/llm/") ||
		p == "internal/itsm" || p == "internal/llm"
}

// isEngine: the analysis engine is bytes in, report out; it may import leaves
// and itself, nothing that talks to a database or the network.
func isEngine(p string) bool {
	return p == "internal/analysis" || strings.HasPrefix(p, "internal/analysis/")
}

// violations returns a sentence for every import that breaks a rule.
func violations(list []pkg) []string {
	var out []string
	for _, p := range list {
		name := short(p.ImportPath)
		for _, imp := range p.Imports {
			own := strings.HasPrefix(imp, module)
			dep := short(imp)
			switch {
			case slices.Contains(domain, name) && imp == "net/http":
				out = append(out, name+" (domain) imports net/http")
			case name == "internal/worker" && imp == "net/http":
				out = append(out, name+" (runtime) imports net/http: the worker calls use cases, never HTTP")
			case name == "internal/api" && slices.ContainsFunc(drivers, func(d string) bool {
				return dep == d || strings.HasPrefix(dep, d+"/")
			}):
				out = append(out, "internal/api imports "+dep+": the edge runs no SQL and opens no transaction")
			case own && dep == "internal/api" && !strings.HasPrefix(name, "cmd/"):
				out = append(out, name+" imports internal/api; only cmd/* may")
			case own && slices.Contains(upper, dep) && !strings.HasPrefix(name, "cmd/") && !slices.Contains(upper, name):
				out = append(out, name+" imports "+dep+", a package above it")
			case own && slices.Contains(leaves, name) && !slices.Contains(leaves, dep):
				out = append(out, name+" (leaf) imports "+dep)
			case isEngine(name) && (imp == "net/http" || (own && !isEngine(dep) && !slices.Contains(leaves, dep))):
				out = append(out, name+" (the analysis engine, a pure library) imports "+dep)
			case own && isOutbound(name) && !isOutbound(dep):
				out = append(out, name+" (a client of an outside system) imports "+dep)
			}
		}
	}
	return out
}

// TestImportRules checks the rules of package arch's doc on every package.
func TestImportRules(t *testing.T) {
	for _, v := range violations(packages(t)) {
		t.Error(v)
	}
}

// TestEachRuleFires runs the rules on made-up packages: a rule that can
// never fire would pass forever and prove nothing.
func TestEachRuleFires(t *testing.T) {
	m := func(s string) string { return module + s }
	tests := []struct {
		name string
		p    pkg
		want string
	}{
		{"domain imports net/http", pkg{m("internal/jobs"), []string{"net/http"}}, "(domain) imports net/http"},
		{"edge imports pgx", pkg{m("internal/api"), []string{"github.com/jackc/pgx/v5/pgconn"}}, "the edge runs no SQL"},
		{"edge imports db", pkg{m("internal/api"), []string{m("internal/db")}}, "the edge runs no SQL"},
		{"domain imports the edge", pkg{m("internal/tickets"), []string{m("internal/api")}}, "only cmd/* may"},
		{"domain imports config", pkg{m("internal/auth"), []string{m("internal/config")}}, "a package above it"},
		{"leaf imports infra", pkg{m("internal/apperr"), []string{m("internal/db")}}, "(leaf) imports"},
		{"client imports the domain", pkg{m("internal/itsm/jira"), []string{m("internal/tickets")}}, "outside system"},
		{"engine imports infra", pkg{m("internal/analysis"), []string{m("internal/db")}}, "pure library"},
		{"engine serves HTTP", pkg{m("internal/analysis"), []string{"net/http"}}, "pure library"},
		{"allowed: engine imports its parts", pkg{m("internal/analysis"), []string{m("internal/analysis/drain"), m("internal/textenc")}}, ""},
		{"allowed: cmd imports anything", pkg{m("cmd/api"), []string{m("internal/api"), m("internal/db")}}, ""},
		{"allowed: the edge imports the domain", pkg{m("internal/api"), []string{m("internal/jobs"), "net/http"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations([]pkg{tt.p})
			switch {
			case tt.want == "" && len(got) > 0:
				t.Fatalf("flagged an allowed import: %q", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Fatalf("got %q, want one violation mentioning %q", got, tt.want)
			}
		})
	}
}

// statementCalls are the methods that run SQL or open a transaction on a
// pgx connection or transaction.
var statementCalls = []string{"Exec", "Query", "QueryRow", "SendBatch", "Begin", "BeginTx", "CopyFrom", "Tx", "TxWith", "Read"}

// TestTheEdgeRunsNoStatement reads internal/api's code: the import rules
// keep pgx and db out, but the edge is handed a transaction to pass on
// (idempotency.Tx), and nothing but an inspection of its calls shows that
// it only passes it on.
func TestTheEdgeRunsNoStatement(t *testing.T) {
	files, err := filepath.Glob("../api/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in ../api: %v", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			// A statement takes a context and SQL (or a function); an
			// argument-less url.Query() or a one-argument io Read is not one.
			least := 2
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Begin") {
				least = 1
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && slices.Contains(statementCalls, sel.Sel.Name) &&
				len(call.Args) >= least {
				t.Errorf("%s: internal/api calls %s: the edge runs no statement and opens no transaction",
					fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
