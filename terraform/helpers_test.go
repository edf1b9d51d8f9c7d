package terraform_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Paths relative to this package's folder (go test runs in it).
const (
	tfDir        = "."
	bootstrapDir = "bootstrap"
	packerDir    = "../packer"
	unitsDir     = "../packer/files"
	repoRoot     = ".."
)

// config is every top-level block of the .tf (or .pkr.hcl) files of a folder.
type config struct {
	t      *testing.T
	blocks []*hclsyntax.Block
	files  map[string]*hclsyntax.Body
}

func parseHCLDir(t *testing.T, dir, suffix string) *config {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no *%s files in %s", suffix, dir)
	}
	c := &config{t: t, files: map[string]*hclsyntax.Body{}}
	for _, name := range names {
		c.files[name] = parseHCLFile(t, name)
		c.blocks = append(c.blocks, c.files[name].Blocks...)
	}
	return c
}

func parseHCLFile(t *testing.T, name string) *hclsyntax.Body {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		t.Fatalf("%s: %s", name, diags.Error())
	}
	return f.Body.(*hclsyntax.Body)
}

// all returns the top-level blocks of a type whose labels start with labels.
func (c *config) all(typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range c.blocks {
		if b.Type == typ && len(b.Labels) >= len(labels) && reflect.DeepEqual(b.Labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

// one returns the only top-level block of a type and label prefix.
func (c *config) one(typ string, labels ...string) *hclsyntax.Block {
	c.t.Helper()
	bs := c.all(typ, labels...)
	if len(bs) != 1 {
		c.t.Fatalf("want exactly one %s %q block, found %d", typ, labels, len(bs))
	}
	return bs[0]
}

// nested returns the only nested block of a type in body.
func nested(t *testing.T, body *hclsyntax.Body, typ string) *hclsyntax.Body {
	t.Helper()
	var found []*hclsyntax.Body
	for _, b := range body.Blocks {
		if b.Type == typ {
			found = append(found, b.Body)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one %q block, found %d", body.SrcRange, typ, len(found))
	}
	return found[0]
}

// literal evaluates an attribute that must be a constant (no references).
func literal(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("%s: attribute %q is not set", body.SrcRange, name)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %q must be a literal: %s", a.SrcRange, name, diags.Error())
	}
	return v
}

func literalString(t *testing.T, body *hclsyntax.Body, name string) string {
	t.Helper()
	v := literal(t, body, name)
	if v.Type() != cty.String {
		t.Fatalf("%s: %q is %s, want a string", body.Attributes[name].SrcRange, name, v.Type().FriendlyName())
	}
	return v.AsString()
}

func literalInt(t *testing.T, body *hclsyntax.Body, name string) int64 {
	t.Helper()
	v := literal(t, body, name)
	if v.Type() != cty.Number {
		t.Fatalf("%s: %q is %s, want a number", body.Attributes[name].SrcRange, name, v.Type().FriendlyName())
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != 0 {
		t.Fatalf("%q = %s is not an integer", name, v.AsBigFloat())
	}
	return i
}

func literalBool(t *testing.T, body *hclsyntax.Body, name string) bool {
	t.Helper()
	v := literal(t, body, name)
	if v.Type() != cty.Bool {
		t.Fatalf("%s: %q is %s, want a bool", body.Attributes[name].SrcRange, name, v.Type().FriendlyName())
	}
	return v.True()
}

// references lists the traversals an attribute reads, as dotted strings with
// indexes, e.g. "aws_subnet.private[0].id".
func references(t *testing.T, body *hclsyntax.Body, name string) []string {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("%s: attribute %q is not set", body.SrcRange, name)
	}
	var out []string
	for _, tr := range a.Expr.Variables() {
		out = append(out, traversalString(tr))
	}
	sort.Strings(out)
	return out
}

func traversalString(tr hcl.Traversal) string {
	var sb strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			sb.WriteString(s.Name)
		case hcl.TraverseAttr:
			sb.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			switch {
			case s.Key.Type() == cty.Number:
				sb.WriteString("[" + s.Key.AsBigFloat().String() + "]")
			case s.Key.Type() == cty.String:
				sb.WriteString("[" + strconv.Quote(s.Key.AsString()) + "]")
			default:
				sb.WriteString("[?]")
			}
		case hcl.TraverseSplat:
			sb.WriteString("[*]")
		}
	}
	return sb.String()
}

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", name, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the effective value of a single-valued key ("" if unset).
func (u unit) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words splits every value of a list-valued key (After=, Requires=) into words.
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// parseEnvFile reads KEY=VALUE lines (the subset of EnvironmentFile syntax
// the packer/files/cadbox.env uses).
func parseEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", name, line)
		}
		env[k] = v
	}
	return env
}

// goFacts is what cadbox's own Go source says about the contract the
// deployment depends on.
type goFacts struct {
	envDefaults map[string]string // env tag (without CADBOX_) -> envDefault
	strings     map[string]bool   // every string literal in non-test files
}

// readGoFacts parses the module's non-test Go files (outside terraform/ and
// packer/) and collects struct env defaults and string literals.
func readGoFacts(t *testing.T) goFacts {
	t.Helper()
	facts := goFacts{envDefaults: map[string]string{}, strings: map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "terraform", "packer", "testdata", "vendor", "node_modules", "data", "bin", "shared":
				if path != repoRoot {
					return filepath.SkipDir
				}
			}
			// Nested modules are not cadbox.
			if path != repoRoot {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Field:
				if x.Tag != nil {
					tag, err := strconv.Unquote(x.Tag.Value)
					if err == nil {
						st := reflect.StructTag(tag)
						if name, ok := st.Lookup("env"); ok {
							if def, ok := st.Lookup("envDefault"); ok {
								name, _, _ = strings.Cut(name, ",")
								facts.envDefaults[strings.TrimPrefix(name, "CADBOX_")] = def
							}
						}
					}
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING {
					if s, err := strconv.Unquote(x.Value); err == nil {
						facts.strings[s] = true
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return facts
}

// hasRoute reports whether the Go source registers path, as "/readyz" or as
// a Go 1.22 pattern "GET /readyz".
func (g goFacts) hasRoute(path string) bool {
	for s := range g.strings {
		if s == path || strings.HasSuffix(s, " "+path) {
			return true
		}
	}
	return false
}

// portOf returns the port of a listen address such as ":8080" or "0.0.0.0:8080".
func portOf(t *testing.T, addr string) int64 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("listen address %q has no port", addr)
	}
	p, err := strconv.ParseInt(addr[i+1:], 10, 32)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return p
}
