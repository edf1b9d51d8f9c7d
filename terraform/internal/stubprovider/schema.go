package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// block is the shape of one configuration block: its arguments and its nested
// blocks, merged over every place the same type appears.
type block struct {
	attrs  map[string]bool
	blocks map[string]*block
}

func newBlock() *block { return &block{attrs: map[string]bool{}, blocks: map[string]*block{}} }

// shapes collects the blocks of one provider's configuration.
type shapes struct {
	provider    *block
	resources   map[string]*block
	dataSources map[string]*block
}

// Meta-arguments and meta-blocks Terraform itself handles inside resource and
// data blocks: they are not part of a provider schema.
var metaAttrs = map[string]bool{"count": true, "for_each": true, "provider": true, "depends_on": true}
var metaBlocks = map[string]bool{"lifecycle": true, "provisioner": true, "connection": true}

// collect parses every .tf file in dirs and derives the shapes of the blocks
// belonging to the provider whose resource types start with prefix.
func collect(dirs []string, providerName, prefix string) (*shapes, error) {
	s := &shapes{provider: newBlock(), resources: map[string]*block{}, dataSources: map[string]*block{}}
	parser := hclparseNew()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			f, diags := parser(src, name)
			if diags.HasErrors() {
				return nil, diags
			}
			body := f.Body.(*hclsyntax.Body)
			for _, b := range body.Blocks {
				switch {
				case b.Type == "provider" && len(b.Labels) == 1 && b.Labels[0] == providerName:
					merge(s.provider, b.Body, false)
				case b.Type == "resource" && len(b.Labels) == 2 && hasPrefix(b.Labels[0], prefix):
					merge(get(s.resources, b.Labels[0]), b.Body, true)
				case b.Type == "data" && len(b.Labels) == 2 && hasPrefix(b.Labels[0], prefix):
					merge(get(s.dataSources, b.Labels[0]), b.Body, true)
				}
			}
			// Attributes other blocks read (aws_lb.main.dns_name) must exist
			// in the schema even though no configuration sets them.
			hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
				switch e := n.(type) {
				case *hclsyntax.ScopeTraversalExpr:
					s.reference(e.Traversal, nil, prefix)
				case *hclsyntax.SplatExpr:
					if src, ok := e.Source.(*hclsyntax.ScopeTraversalExpr); ok {
						if each, ok := e.Each.(*hclsyntax.RelativeTraversalExpr); ok {
							s.reference(src.Traversal, each.Traversal, prefix)
						}
					}
				case *hclsyntax.RelativeTraversalExpr:
					// aws_subnet.private[count.index].id
					src := e.Source
					if ix, ok := src.(*hclsyntax.IndexExpr); ok {
						src = ix.Collection
					}
					if st, ok := src.(*hclsyntax.ScopeTraversalExpr); ok {
						s.reference(st.Traversal, e.Traversal, prefix)
					}
				}
				return nil
			})
		}
	}
	for _, m := range []map[string]*block{s.resources, s.dataSources} {
		for _, b := range m {
			b.attrs["id"] = true
		}
	}
	return s, nil
}

func hclparseNew() func([]byte, string) (*hcl.File, hcl.Diagnostics) {
	return func(src []byte, name string) (*hcl.File, hcl.Diagnostics) {
		return hclsyntax.ParseConfig(src, name, hcl.Pos{Line: 1, Column: 1})
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func get(m map[string]*block, name string) *block {
	if m[name] == nil {
		m[name] = newBlock()
	}
	return m[name]
}

// merge adds the arguments and nested blocks of body to b. `dynamic "x"`
// blocks stand for nested blocks x shaped like their content.
func merge(b *block, body *hclsyntax.Body, top bool) {
	for name := range body.Attributes {
		if top && metaAttrs[name] {
			continue
		}
		b.attrs[name] = true
	}
	for _, nb := range body.Blocks {
		switch {
		case top && metaBlocks[nb.Type]:
			continue
		case nb.Type == "dynamic" && len(nb.Labels) == 1:
			for _, c := range nb.Body.Blocks {
				if c.Type == "content" {
					merge(get(b.blocks, nb.Labels[0]), c.Body, false)
				}
			}
		default:
			merge(get(b.blocks, nb.Type), nb.Body, false)
		}
	}
}

// reference records the attribute named by a traversal such as
// aws_lb.main.dns_name, aws_subnet.private[0].id, data.aws_ami.x.id or (for a
// splat) aws_subnet.public with each = .id.
func (s *shapes) reference(t, each hcl.Traversal, prefix string) {
	names := make([]string, 0, len(t))
	full := append(append(hcl.Traversal{}, t...), each...)
	for _, step := range full {
		switch st := step.(type) {
		case hcl.TraverseRoot:
			names = append(names, st.Name)
		case hcl.TraverseAttr:
			names = append(names, st.Name)
		}
	}
	target := s.resources
	if len(names) > 0 && names[0] == "data" {
		target, names = s.dataSources, names[1:]
	}
	// type, name, attribute
	if len(names) < 3 || !hasPrefix(names[0], prefix) {
		return
	}
	b := get(target, names[0])
	if b.blocks[names[2]] == nil {
		b.attrs[names[2]] = true
	}
}

// toSchema turns a block shape into a provider schema block in which every
// argument is optional, computed and of dynamic type, and every nested block
// is a list.
func toSchema(b *block) *tfprotov5.SchemaBlock {
	out := &tfprotov5.SchemaBlock{}
	for _, name := range sorted(b.attrs) {
		out.Attributes = append(out.Attributes, &tfprotov5.SchemaAttribute{
			Name: name, Type: tftypes.DynamicPseudoType, Optional: true, Computed: true,
		})
	}
	for _, name := range sorted(b.blocks) {
		out.BlockTypes = append(out.BlockTypes, &tfprotov5.SchemaNestedBlock{
			TypeName: name, Nesting: tfprotov5.SchemaNestedBlockNestingModeList, Block: toSchema(b.blocks[name]),
		})
	}
	return out
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *shapes) String() string {
	return fmt.Sprintf("%d resource types, %d data sources", len(s.resources), len(s.dataSources))
}
