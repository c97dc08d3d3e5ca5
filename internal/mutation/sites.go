package mutation

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strings"
)

// Kind names a mutation operator.
type Kind string

// The mutation operators.
const (
	Boundary  Kind = "boundary" // < ↔ <=, > ↔ >=
	Negation  Kind = "negation" // == ↔ !=, < ↔ >=, > ↔ <=
	Logical   Kind = "logical"  // && ↔ ||
	Arith     Kind = "arith"    // + ↔ -, * ↔ /, % → *
	NotCond   Kind = "not"      // E → !E for a condition, !E → E
	IncDec    Kind = "incdec"   // ++ ↔ --, += ↔ -=
	RemoveSt  Kind = "remove"   // a statement removed
	helperPkg      = "zz_dfaas_mutants.go"
)

// Mutant is one planted bug.
type Mutant struct {
	ID   int    // 1-based within its package; the value of DFAAS_MUTANT
	File string // absolute path
	Line int
	Col  int
	Kind Kind
	Desc string // what changed, e.g. "< → <="
}

// Pos is the mutant's position as file:line:col, the file relative to dir.
func (m Mutant) Pos(dir string) string {
	f := strings.TrimPrefix(m.File, dir+"/")
	return fmt.Sprintf("%s:%d:%d", f, m.Line, m.Col)
}

// variant is one mutant of a site: its id and the replacement text, built
// lazily because the text of the operands depends on nested sites.
type variant struct {
	id   int
	text func() string
}

// site is a node of the source that has mutants. Sites nest (a comparison
// inside an if statement that may be removed); rendering a site renders the
// sites inside it.
type site struct {
	start, end int // byte offsets
	form       form
	typ        string // the result type, for exprTyped
	variants   []variant
	orig       func() string
}

type form int

const (
	exprBool  form = iota // a boolean expression: chosen by && and ||
	exprTyped             // a typed expression: chosen inside a closure
	stmt                  // a statement: chosen by if/else
	verbatim              // the rendering is the variant's text itself
)

// collector walks one file and gathers its sites and mutants.
type collector struct {
	fset    *token.FileSet
	file    *ast.File
	src     []byte
	info    *types.Info
	pkg     *types.Package
	path    string
	sites   []*site
	mutants *[]Mutant
	active  map[*site]bool // sites being rendered, not rendered again inside themselves
}

func (c *collector) off(p token.Pos) int { return c.fset.Position(p).Offset }

func (c *collector) newMutant(at token.Pos, k Kind, desc string) int {
	id := len(*c.mutants) + 1
	p := c.fset.Position(at)
	*c.mutants = append(*c.mutants, Mutant{ID: id, File: c.path, Line: p.Line, Col: p.Column, Kind: k, Desc: desc})
	return id
}

// text renders the source between two offsets with every site inside it
// rendered in place.
func (c *collector) text(a, b int) string {
	var sb strings.Builder
	pos := a
	for _, s := range c.sites {
		if s.start < pos || s.end > b || s.start >= b || c.active[s] {
			continue
		}
		sb.Write(c.src[pos:s.start])
		sb.WriteString(c.render(s))
		pos = s.end
	}
	sb.Write(c.src[pos:b])
	return sb.String()
}

func (c *collector) nodeText(n ast.Node) string { return c.text(c.off(n.Pos()), c.off(n.End())) }

func (c *collector) render(s *site) string {
	c.active[s] = true
	defer delete(c.active, s)
	var sb strings.Builder
	switch s.form {
	case verbatim:
		return s.variants[0].text()
	case exprBool:
		sb.WriteString("(")
		ids := make([]string, 0, len(s.variants))
		for _, v := range s.variants {
			fmt.Fprintf(&sb, "dfaasMutOn(%d) && (%s) || ", v.id, v.text())
			ids = append(ids, fmt.Sprint(v.id))
		}
		fmt.Fprintf(&sb, "!dfaasMutAny(%s) && (%s))", strings.Join(ids, ", "), s.orig())
	case exprTyped:
		fmt.Fprintf(&sb, "func() %s { ", s.typ)
		for _, v := range s.variants {
			fmt.Fprintf(&sb, "if dfaasMutOn(%d) { return %s }; ", v.id, v.text())
		}
		fmt.Fprintf(&sb, "return %s }()", s.orig())
	case stmt:
		for _, v := range s.variants {
			fmt.Fprintf(&sb, "if dfaasMutOn(%d) { %s } else ", v.id, v.text())
		}
		fmt.Fprintf(&sb, "{ %s }", s.orig())
	}
	return sb.String()
}

func (c *collector) add(s *site) {
	if len(s.variants) > 0 {
		c.sites = append(c.sites, s)
	}
}

// sortSites orders sites by start, the outermost first.
func (c *collector) sortSites() {
	sort.SliceStable(c.sites, func(i, j int) bool {
		if c.sites[i].start != c.sites[j].start {
			return c.sites[i].start < c.sites[j].start
		}
		return c.sites[i].end > c.sites[j].end
	})
}

// isBool reports whether e has type bool (not a named boolean type), so
// that a rewritten expression of type bool fits where e stood.
func (c *collector) isBool(e ast.Expr) bool {
	tv, ok := c.info.Types[e]
	if !ok || tv.Value != nil {
		return false
	}
	b, ok := tv.Type.(*types.Basic)
	return ok && (b.Kind() == types.Bool || b.Kind() == types.UntypedBool)
}

var flips = map[token.Token][]struct {
	to   token.Token
	kind Kind
}{
	token.LSS: {{token.LEQ, Boundary}, {token.GEQ, Negation}},
	token.LEQ: {{token.LSS, Boundary}, {token.GTR, Negation}},
	token.GTR: {{token.GEQ, Boundary}, {token.LEQ, Negation}},
	token.GEQ: {{token.GTR, Boundary}, {token.LSS, Negation}},
	token.EQL: {{token.NEQ, Negation}},
	token.NEQ: {{token.EQL, Negation}},
}

var arith = map[token.Token]token.Token{
	token.ADD: token.SUB, token.SUB: token.ADD, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL,
}

func (c *collector) binary(e *ast.BinaryExpr) {
	x, y := e.X, e.Y
	binText := func(op token.Token) func() string {
		return func() string { return "(" + c.nodeText(x) + ") " + op.String() + " (" + c.nodeText(y) + ")" }
	}
	s := &site{start: c.off(e.Pos()), end: c.off(e.End())}
	switch {
	case flips[e.Op] != nil:
		if !c.isBool(e) {
			return
		}
		s.form, s.orig = exprBool, binText(e.Op)
		for _, f := range flips[e.Op] {
			id := c.newMutant(e.OpPos, f.kind, e.Op.String()+" → "+f.to.String())
			s.variants = append(s.variants, variant{id, binText(f.to)})
		}
	case e.Op == token.LAND || e.Op == token.LOR:
		if !c.isBool(x) || !c.isBool(y) || !c.isBool(e) {
			return
		}
		to, fn := token.LOR, "dfaasMutAnd"
		if e.Op == token.LOR {
			to, fn = token.LAND, "dfaasMutOr"
		}
		id := c.newMutant(e.OpPos, Logical, e.Op.String()+" → "+to.String())
		s.form = verbatim
		s.variants = []variant{{id, func() string {
			return fmt.Sprintf("%s(%d, %s, func() bool { return %s })", fn, id, c.nodeText(x), c.nodeText(y))
		}}}
	case arith[e.Op] != token.ILLEGAL:
		typ, ok := c.numericType(e)
		if !ok || !simple(x) || !simple(y) {
			return
		}
		to := arith[e.Op]
		id := c.newMutant(e.OpPos, Arith, e.Op.String()+" → "+to.String())
		s.form, s.typ, s.orig = exprTyped, typ, binText(e.Op)
		s.variants = []variant{{id, binText(to)}}
	}
	c.add(s)
}

// numericType returns the source text of e's type when e is a non-constant
// numeric expression whose type can be named in this file.
func (c *collector) numericType(e ast.Expr) (string, bool) {
	tv, ok := c.info.Types[e]
	if !ok || tv.Value != nil {
		return "", false
	}
	b, ok := tv.Type.Underlying().(*types.Basic)
	if !ok || b.Info()&types.IsNumeric == 0 || b.Info()&types.IsUntyped != 0 {
		return "", false
	}
	switch t := tv.Type.(type) {
	case *types.Basic:
		return t.Name(), true
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil || t.TypeArgs().Len() > 0 {
			return "", false
		}
		if obj.Pkg() == c.pkg {
			return obj.Name(), obj.Parent() == c.pkg.Scope()
		}
		for _, imp := range c.file.Imports {
			if strings.Trim(imp.Path.Value, `"`) != obj.Pkg().Path() {
				continue
			}
			name := obj.Pkg().Name()
			if imp.Name != nil {
				name = imp.Name.Name
			}
			if name == "_" || name == "." {
				return "", false
			}
			return name + "." + obj.Name(), true
		}
	}
	return "", false
}

// simple reports whether evaluating e twice is harmless: identifiers,
// literals, selectors, index expressions and len/cap of those.
func simple(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident, *ast.BasicLit:
		return true
	case *ast.ParenExpr:
		return simple(e.X)
	case *ast.SelectorExpr:
		return simple(e.X)
	case *ast.IndexExpr:
		return simple(e.X) && simple(e.Index)
	case *ast.StarExpr:
		return simple(e.X)
	case *ast.CallExpr:
		id, ok := e.Fun.(*ast.Ident)
		return ok && (id.Name == "len" || id.Name == "cap") && len(e.Args) == 1 && simple(e.Args[0])
	}
	return false
}

// negate plants "E → !E" on a boolean expression that no other operator
// changes as a whole (an identifier, a call, a field), and "!E → E".
func (c *collector) negate(e ast.Expr) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		c.negate(e.X)
		return
	case *ast.BinaryExpr, *ast.BasicLit:
		return
	case *ast.UnaryExpr:
		if e.Op != token.NOT || !c.isBool(e) {
			return
		}
		id := c.newMutant(e.OpPos, NotCond, "!E → E")
		c.add(&site{start: c.off(e.Pos()), end: c.off(e.End()), form: verbatim, variants: []variant{{id, func() string {
			return fmt.Sprintf("(dfaasMutOn(%d) != (%s))", id, c.nodeText(e))
		}}}})
		return
	}
	if !c.isBool(e) {
		return
	}
	if id, ok := e.(*ast.Ident); ok && (id.Name == "true" || id.Name == "false") {
		return
	}
	id := c.newMutant(e.Pos(), NotCond, "E → !E")
	c.add(&site{start: c.off(e.Pos()), end: c.off(e.End()), form: verbatim, variants: []variant{{id, func() string {
		return fmt.Sprintf("(dfaasMutOn(%d) != (%s))", id, c.nodeText(e))
	}}}})
}
