package profile

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mdocgate/mdocgate/messages"
)

// Limits of the rule language. They bound parsing time and memory whatever the input.
const (
	MaxRuleLength = 4096 // bytes of rule text
	MaxRuleDepth  = 32   // nesting of parentheses and operators
	maxIntDigits  = 18   // integer literals stay well inside int64
)

// Rule is a parsed decision rule. It is immutable and safe for concurrent use.
//
// The language is deliberately small and cannot run code or reach anything but the
// document's disclosed elements and the current date:
//
//	expr    = or
//	or      = and { ("or" | "||") and }
//	and     = unary { ("and" | "&&") unary }
//	unary   = ("not" | "!") unary | compare
//	compare = operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand ]
//	operand = "(" expr ")" | "true" | "false" | "today" | integer | "string"
//	        | identifier | identifier "(" [ operand { "," operand } ] ")"
//
// An identifier names a disclosed data element (e.g. age_over_18). Functions:
// present(element) is true when the element was disclosed and authentic;
// date("YYYY-MM-DD") is a full-date; years_ago(n) and days_ago(n) are the full-date
// n years / days before today. Values are bool, integer, text and dates (full-date and
// tdate; a comparison involving a full-date compares calendar days in UTC).
//
// Evaluation fails closed: a referenced element that was not disclosed (outside
// present()), a type mismatch or an unsupported element type is an error, never false
// or true. "and"/"or" evaluate left to right and stop at the first operand that decides.
type Rule struct {
	src  string
	root node
}

// ParseRule parses rule text. The error names the position of the first problem.
func ParseRule(src string) (*Rule, error) {
	if len(src) > MaxRuleLength {
		return nil, fmt.Errorf("rule: longer than %d bytes", MaxRuleLength)
	}
	if !utf8.ValidString(src) {
		return nil, errors.New("rule: not valid UTF-8")
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("rule: unexpected %s at offset %d", t, t.pos)
	}
	if astDepth(n) > MaxRuleDepth {
		return nil, fmt.Errorf("rule: nested deeper than %d", MaxRuleDepth)
	}
	if !isBoolExpr(n) {
		return nil, errors.New("rule: the rule must be a condition (a comparison, present(), and/or/not, or a bool element)")
	}
	return &Rule{src: src, root: n}, nil
}

// MustParseRule is ParseRule that panics on error; for rules fixed in code.
func MustParseRule(src string) *Rule {
	r, err := ParseRule(src)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the rule in canonical form (fully parenthesised); parsing it again
// gives the same rule.
func (r *Rule) String() string { return r.root.String() }

// Source returns the text the rule was parsed from.
func (r *Rule) Source() string { return r.src }

// Elements returns the element identifiers the rule refers to, in first-use order.
func (r *Rule) Elements() []string {
	var out []string
	seen := map[string]bool{}
	walk(r.root, func(n node) {
		if id, ok := n.(*identNode); ok && !seen[id.name] {
			seen[id.name] = true
			out = append(out, id.name)
		}
	})
	return out
}

// Lookup finds a disclosed element's raw CBOR value by identifier.
type Lookup func(identifier string) (raw []byte, ok bool)

// Eval evaluates the rule against the elements lookup finds, with today's date taken
// from now in UTC. It returns an error (and false) whenever the rule cannot be decided.
func (r *Rule) Eval(lookup Lookup, now time.Time) (bool, error) {
	e := &evaluator{lookup: lookup, today: dateOf(now)}
	v, err := e.eval(r.root)
	if err != nil {
		return false, err
	}
	if v.k != kBool {
		return false, fmt.Errorf("rule: result is %s, not bool", v.k)
	}
	return v.b, nil
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tString
	tOp // == != < <= > >= && || !
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of rule"
	case tString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || isDigit(s[j])) {
				j++
			}
			out = append(out, token{tIdent, s[i:j], i})
			i = j
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j-i > maxIntDigits {
				return nil, fmt.Errorf("rule: integer at offset %d has more than %d digits", i, maxIntDigits)
			}
			if j < len(s) && isIdentStart(s[j]) {
				return nil, fmt.Errorf("rule: malformed number at offset %d", i)
			}
			out = append(out, token{tInt, s[i:j], i})
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("rule: unterminated string at offset %d", i)
				}
				if s[j] == '"' {
					break
				}
				if s[j] == '\\' {
					if j+1 >= len(s) || (s[j+1] != '"' && s[j+1] != '\\') {
						return nil, fmt.Errorf(`rule: only \" and \\ escapes are allowed (offset %d)`, j)
					}
					j++
				} else if s[j] < 0x20 {
					return nil, fmt.Errorf("rule: control character in string at offset %d", j)
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		default:
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch {
			case two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "&&" || two == "||":
				out = append(out, token{tOp, two, i})
				i += 2
			case c == '<' || c == '>' || c == '!':
				out = append(out, token{tOp, string(c), i})
				i++
			default:
				r, _ := utf8.DecodeRuneInString(s[i:])
				return nil, fmt.Errorf("rule: unexpected character %q at offset %d", r, i)
			}
		}
	}
	return append(out, token{kind: tEOF, pos: len(s)}), nil
}

// ---- parser ----

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isWord(words ...string) bool {
	t := p.peek()
	for _, w := range words {
		if (t.kind == tIdent || t.kind == tOp) && t.text == w {
			return true
		}
	}
	return false
}

func depthErr(t token) error {
	return fmt.Errorf("rule: nested deeper than %d at offset %d", MaxRuleDepth, t.pos)
}

// Parser recursion grows only with parentheses, "not" and function calls, each
// bounded by MaxRuleDepth; and/or chains are parsed iteratively into one n-ary node.
func (p *parser) expr(depth int) (node, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	if !p.isWord("or", "||") {
		return left, nil
	}
	n := &logicNode{op: "or", items: []node{left}}
	for p.isWord("or", "||") {
		p.next()
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, right)
	}
	return n, nil
}

func (p *parser) and(depth int) (node, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	if !p.isWord("and", "&&") {
		return left, nil
	}
	n := &logicNode{op: "and", items: []node{left}}
	for p.isWord("and", "&&") {
		p.next()
		right, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, right)
	}
	return n, nil
}

func (p *parser) unary(depth int) (node, error) {
	if p.isWord("not", "!") {
		if depth >= MaxRuleDepth {
			return nil, depthErr(p.peek())
		}
		p.next()
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &notNode{n}, nil
	}
	return p.compare(depth)
}

var compareOps = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) compare(depth int) (node, error) {
	left, err := p.operand(depth)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tOp && compareOps[t.text] {
		p.next()
		right, err := p.operand(depth)
		if err != nil {
			return nil, err
		}
		if t2 := p.peek(); t2.kind == tOp && compareOps[t2.text] {
			return nil, fmt.Errorf("rule: comparisons cannot be chained (offset %d); use and", t2.pos)
		}
		return &cmpNode{op: t.text, l: left, r: right}, nil
	}
	return left, nil
}

func (p *parser) operand(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		if depth >= MaxRuleDepth {
			return nil, depthErr(t)
		}
		n, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, fmt.Errorf("rule: expected \")\" at offset %d, found %s", c.pos, c)
		}
		return n, nil
	case tInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rule: integer at offset %d: %w", t.pos, err)
		}
		return &litNode{value{k: kInt, i: n}}, nil
	case tString:
		return &litNode{value{k: kString, s: t.text}}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return &boolNode{t.text == "true"}, nil
		case "today":
			return &todayNode{}, nil
		case "and", "or", "not":
			return nil, fmt.Errorf("rule: unexpected %q at offset %d", t.text, t.pos)
		}
		if p.peek().kind == tLParen {
			return p.call(t, depth)
		}
		return &identNode{t.text}, nil
	}
	return nil, fmt.Errorf("rule: unexpected %s at offset %d", t, t.pos)
}

// functions and their arities.
var functions = map[string]int{"present": 1, "date": 1, "years_ago": 1, "days_ago": 1}

func (p *parser) call(name token, depth int) (node, error) {
	arity, ok := functions[name.text]
	if !ok {
		return nil, fmt.Errorf("rule: unknown function %q at offset %d", name.text, name.pos)
	}
	if depth >= MaxRuleDepth {
		return nil, depthErr(name)
	}
	p.next() // (
	var args []node
	if p.peek().kind != tRParen {
		for {
			a, err := p.operand(depth + 1)
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if c := p.next(); c.kind != tRParen {
		return nil, fmt.Errorf("rule: expected \")\" at offset %d, found %s", c.pos, c)
	}
	if len(args) != arity {
		return nil, fmt.Errorf("rule: %s takes %d argument(s), got %d (offset %d)", name.text, arity, len(args), name.pos)
	}
	switch name.text {
	case "present":
		id, ok := args[0].(*identNode)
		if !ok {
			return nil, fmt.Errorf("rule: present() takes an element identifier (offset %d)", name.pos)
		}
		return &presentNode{id.name}, nil
	case "date":
		lit, ok := args[0].(*litNode)
		if !ok || lit.v.k != kString {
			return nil, fmt.Errorf("rule: date() takes a \"YYYY-MM-DD\" string (offset %d)", name.pos)
		}
		fd, err := messages.ParseFullDate(lit.v.s)
		if err != nil {
			return nil, fmt.Errorf("rule: date() at offset %d: %w", name.pos, err)
		}
		return &litNode{value{k: kDate, t: fd.Time(), dateOnly: true}}, nil
	default: // years_ago, days_ago
		lit, ok := args[0].(*litNode)
		if !ok || lit.v.k != kInt || lit.v.i > 10000 {
			return nil, fmt.Errorf("rule: %s() takes an integer literal 0..10000 (offset %d)", name.text, name.pos)
		}
		return &agoNode{unit: name.text, n: int(lit.v.i)}, nil
	}
}

// isBoolExpr reports whether n can only yield bool (or is an element, which may be bool).
func isBoolExpr(n node) bool {
	switch n.(type) {
	case *logicNode, *notNode, *cmpNode, *presentNode, *boolNode, *identNode:
		return true
	}
	return false
}

// astDepth is the nesting of the canonical form: each and/or, not and comparison
// adds one level.
func astDepth(n node) int {
	switch x := n.(type) {
	case *logicNode:
		d := 0
		for _, it := range x.items {
			d = max(d, astDepth(it))
		}
		return d + 1
	case *notNode:
		return astDepth(x.n) + 1
	case *cmpNode:
		return max(astDepth(x.l), astDepth(x.r)) + 1
	}
	return 0
}

// ---- AST ----

type node interface{ String() string }

type (
	logicNode struct {
		op    string
		items []node // two or more
	}
	notNode struct{ n node }
	cmpNode struct {
		op   string
		l, r node
	}
	litNode     struct{ v value }
	boolNode    struct{ b bool }
	todayNode   struct{}
	identNode   struct{ name string }
	presentNode struct{ name string }
	agoNode     struct {
		unit string
		n    int
	}
)

func (n *logicNode) String() string {
	parts := make([]string, len(n.items))
	for i, it := range n.items {
		parts[i] = it.String()
	}
	return "(" + strings.Join(parts, " "+n.op+" ") + ")"
}
func (n *notNode) String() string     { return "not " + n.n.String() }
func (n *cmpNode) String() string     { return "(" + n.l.String() + " " + n.op + " " + n.r.String() + ")" }
func (n *litNode) String() string     { return n.v.literal() }
func (n *boolNode) String() string    { return strconv.FormatBool(n.b) }
func (n *todayNode) String() string   { return "today" }
func (n *identNode) String() string   { return n.name }
func (n *presentNode) String() string { return "present(" + n.name + ")" }
func (n *agoNode) String() string     { return n.unit + "(" + strconv.Itoa(n.n) + ")" }

func walk(n node, f func(node)) {
	f(n)
	switch x := n.(type) {
	case *logicNode:
		for _, it := range x.items {
			walk(it, f)
		}
	case *notNode:
		walk(x.n, f)
	case *cmpNode:
		walk(x.l, f)
		walk(x.r, f)
	case *presentNode:
		f(&identNode{x.name})
	}
}

// ---- values and evaluation ----

type kind int

const (
	kBool kind = iota
	kInt
	kString
	kDate
)

func (k kind) String() string {
	return [...]string{"bool", "integer", "text", "date"}[k]
}

type value struct {
	k        kind
	b        bool
	i        int64
	s        string
	t        time.Time
	dateOnly bool // a full-date: compared by calendar day
}

func (v value) literal() string {
	switch v.k {
	case kBool:
		return strconv.FormatBool(v.b)
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kString:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v.s) + `"`
	default:
		return `date("` + v.t.UTC().Format(time.DateOnly) + `")`
	}
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

type evaluator struct {
	lookup Lookup
	today  time.Time
}

func (e *evaluator) eval(n node) (value, error) {
	switch x := n.(type) {
	case *boolNode:
		return value{k: kBool, b: x.b}, nil
	case *litNode:
		return x.v, nil
	case *todayNode:
		return value{k: kDate, t: e.today, dateOnly: true}, nil
	case *agoNode:
		t := e.today
		if x.unit == "years_ago" {
			t = t.AddDate(-x.n, 0, 0)
		} else {
			t = t.AddDate(0, 0, -x.n)
		}
		return value{k: kDate, t: t, dateOnly: true}, nil
	case *presentNode:
		_, ok := e.lookup(x.name)
		return value{k: kBool, b: ok}, nil
	case *identNode:
		raw, ok := e.lookup(x.name)
		if !ok {
			return value{}, fmt.Errorf("rule: element %s was not disclosed", x.name)
		}
		v, err := decodeValue(raw)
		if err != nil {
			return value{}, fmt.Errorf("rule: element %s: %w", x.name, err)
		}
		return v, nil
	case *notNode:
		v, err := e.evalBool(x.n)
		if err != nil {
			return value{}, err
		}
		return value{k: kBool, b: !v}, nil
	case *logicNode:
		// "or" stops at the first true operand, "and" at the first false one
		for _, it := range x.items {
			b, err := e.evalBool(it)
			if err != nil {
				return value{}, err
			}
			if b == (x.op == "or") {
				return value{k: kBool, b: b}, nil
			}
		}
		return value{k: kBool, b: x.op == "and"}, nil
	case *cmpNode:
		l, err := e.eval(x.l)
		if err != nil {
			return value{}, err
		}
		r, err := e.eval(x.r)
		if err != nil {
			return value{}, err
		}
		b, err := compare(x.op, l, r)
		if err != nil {
			return value{}, fmt.Errorf("rule: %s: %w", x, err)
		}
		return value{k: kBool, b: b}, nil
	}
	return value{}, fmt.Errorf("rule: cannot evaluate %T", n)
}

func (e *evaluator) evalBool(n node) (bool, error) {
	v, err := e.eval(n)
	if err != nil {
		return false, err
	}
	if v.k != kBool {
		return false, fmt.Errorf("rule: %s is %s, not bool", n, v.k)
	}
	return v.b, nil
}

// coerce makes a text value comparable with a date when it holds one (untagged
// full-date or tdate, as some wallets send).
func coerce(v value, to kind) value {
	if v.k != kString || to != kDate {
		return v
	}
	if fd, err := messages.ParseFullDate(v.s); err == nil {
		return value{k: kDate, t: fd.Time(), dateOnly: true}
	}
	if t, err := time.Parse(time.RFC3339, v.s); err == nil {
		return value{k: kDate, t: t}
	}
	return v
}

func compare(op string, l, r value) (bool, error) {
	l, r = coerce(l, r.k), coerce(r, l.k)
	if l.k != r.k {
		return false, fmt.Errorf("cannot compare %s with %s", l.k, r.k)
	}
	var c int
	switch l.k {
	case kBool:
		if op != "==" && op != "!=" {
			return false, fmt.Errorf("bool values only support == and !=")
		}
		if l.b != r.b {
			c = 1
		}
	case kInt:
		c = cmpOrdered(l.i, r.i)
	case kString:
		c = strings.Compare(l.s, r.s)
	case kDate:
		lt, rt := l.t, r.t
		if l.dateOnly || r.dateOnly {
			lt, rt = dateOf(lt), dateOf(rt)
		}
		c = lt.Compare(rt)
	}
	switch op {
	case "==":
		return c == 0, nil
	case "!=":
		return c != 0, nil
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

func cmpOrdered(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decodeValue turns an element's CBOR into a rule value: bool, integers within int64,
// text, full-date (tag 1004) and tdate (tag 0). Other types are refused.
func decodeValue(raw []byte) (value, error) {
	if len(raw) == 0 {
		return value{}, errors.New("empty value")
	}
	switch raw[0] >> 5 {
	case 0, 1:
		var i int64
		if err := messages.Unmarshal(raw, &i); err != nil {
			var u uint64
			if messages.Unmarshal(raw, &u) == nil && u > math.MaxInt64 {
				return value{}, errors.New("integer out of range")
			}
			return value{}, err
		}
		return value{k: kInt, i: i}, nil
	case 3:
		var s string
		if err := messages.Unmarshal(raw, &s); err != nil {
			return value{}, err
		}
		return value{k: kString, s: s}, nil
	case 6:
		var fd messages.FullDate
		if err := fd.UnmarshalCBOR(raw); err == nil {
			return value{k: kDate, t: fd.Time(), dateOnly: true}, nil
		}
		var td messages.TDate
		if err := td.UnmarshalCBOR(raw); err == nil {
			return value{k: kDate, t: td.Time}, nil
		}
		return value{}, errors.New("tagged value that is neither full-date nor tdate")
	case 7:
		switch raw[0] {
		case 0xf4:
			return value{k: kBool, b: false}, nil
		case 0xf5:
			return value{k: kBool, b: true}, nil
		}
	}
	return value{}, fmt.Errorf("CBOR major type %d cannot be used in a rule", raw[0]>>5)
}
