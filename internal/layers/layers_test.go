// Package layers holds one test: the dependency arrows of DESIGN.md
// ("cmd → pipeline → {mailbox, parser, store, providers, triage, notify} →
// config"; parser and store import none of the others), checked on the
// real import graph so that a convenient import cannot quietly turn one round.
package layers

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/abusewatch/abusewatch/"

// The packages a concern may import, besides the standard library, other
// modules and the leaf packages under internal/ that import none of ours.
var allowed = map[string][]string{
	"config":    {},
	"parser":    {},
	"store":     {},
	"contain":   {},
	"providers": {"config"},
	"mailbox":   {"config"},
	"triage":    {"config", "contain"},
	"notify":    {"config"},
	"statement": {"config", "store"},
	"web":       {"config", "store"},
}

// leaves are shared by the concerns; they import nothing of ours.
var leaves = []string{"internal/errkind", "internal/notice", "internal/safetext"}

func TestDependenciesPointOneWay(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < len(allowed) {
		t.Fatalf("go list found %d packages: the test would prove nothing", len(pkgs))
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		path := strings.TrimPrefix(p.ImportPath, module)
		seen[path] = true
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if err := check(path, dep); err != nil {
				t.Errorf("%s imports %s: %v", path, dep, err)
			}
		}
	}
	for concern := range allowed {
		if !seen[concern] {
			t.Errorf("package %s is not in the module any more: update this test", concern)
		}
	}
}

// check says why path may not import dep, nil when it may.
func check(path, dep string) error {
	switch {
	case slices.Contains(leaves, path):
		return errors.New("a leaf package imports nothing of ours")
	case slices.Contains(leaves, dep):
		return nil
	case dep == "pipeline" && path != "cmd/abusewatch" && path != "internal/demo":
		return errors.New("only the CLI (and the demo it runs) builds on pipeline")
	}
	top, _, _ := strings.Cut(path, "/")
	may, isConcern := allowed[top]
	if !isConcern {
		return nil // cmd, pipeline, test helpers: may use any concern
	}
	depTop, _, _ := strings.Cut(dep, "/")
	if depTop == top || slices.Contains(may, depTop) {
		return nil // within one concern (providers/ovh → providers), or an allowed arrow
	}
	return errors.New("against DESIGN.md's arrows: " + top + " may import only " + strings.Join(append(slices.Clone(may), leaves...), ", "))
}

type listed struct {
	ImportPath string
	Imports    []string
}

// listPackages runs go list. Its reads happen in a child process, which go
// test's result cache does not see: make test runs with -count=1.
func listPackages(t *testing.T) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
