package parser

import "math/bits"

// phraseSet finds which of many phrases occur in a text in one pass over
// it (an Aho-Corasick automaton turned into a table-driven DFA). The phrase
// tables of every language are compiled into one set, so that adding a
// language adds phrases, not passes over the mail.
//
// A set is built once, from the tables, and never changed: it is safe for
// concurrent use.
type phraseSet struct {
	class   [256]uint8 // byte → alphabet class; 0 for bytes no phrase holds
	classes int
	// next[state*classes+class] is the next state, shifted left by one,
	// with the low bit set when phrases end there. Entries are 16 bits and
	// the classes of ASCII letters and the space come first, so that the
	// entries the usual text reads of a state share a cache line.
	next []uint16
	out  []uint64 // signals ended at each state, with those of its suffixes
	lang []uint64 // the languages of those phrases
}

// phrase is one entry of a set: the text (flattened lower case, as flatten
// makes it) and what its occurrence means.
type phrase struct {
	text   string
	signal signal
	lang   int // index of the language table, -1 for language-independent
}

// signal is one fact that phrases can establish, a bit of a mask.
type signal uint8

// has reports whether mask holds s.
func (m signalMask) has(s signal) bool { return m&(1<<s) != 0 }

type signalMask uint64

// newPhraseSet compiles phrases. Empty phrases are ignored.
func newPhraseSet(phrases []phrase) *phraseSet {
	ps := &phraseSet{classes: 1}
	for _, c := range []byte(" abcdefghijklmnopqrstuvwxyz") {
		ps.class[c] = uint8(ps.classes)
		ps.classes++
	}
	// Bytes of UTF-8 sequences share one class: "anómala" then also
	// matches "anámala", which no mail writes, and the table stays small
	// enough for the cache (a scan is a chain of dependent loads).
	utf8Class := 0
	for _, p := range phrases {
		for i := 0; i < len(p.text); i++ {
			c := p.text[i]
			switch {
			case ps.class[c] != 0:
			case c >= 0x80 && utf8Class != 0:
				ps.class[c] = uint8(utf8Class)
			default:
				ps.class[c] = uint8(ps.classes)
				if c >= 0x80 {
					utf8Class = ps.classes
				}
				ps.classes++
			}
		}
	}
	if utf8Class != 0 {
		for c := 0x80; c < 0x100; c++ {
			ps.class[c] = uint8(utf8Class)
		}
	}
	// The trie, with -1 for a missing edge.
	type node struct {
		edges []int32
		out   uint64
		lang  uint64
	}
	newNode := func() node {
		e := make([]int32, ps.classes)
		for i := range e {
			e[i] = -1
		}
		return node{edges: e}
	}
	nodes := []node{newNode()}
	for _, p := range phrases {
		if p.text == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p.text); i++ {
			c := ps.class[p.text[i]]
			if nodes[s].edges[c] < 0 {
				nodes = append(nodes, newNode())
				nodes[s].edges[c] = int32(len(nodes) - 1)
			}
			s = nodes[s].edges[c]
		}
		nodes[s].out |= 1 << p.signal
		if p.lang >= 0 {
			nodes[s].lang |= 1 << uint(p.lang)
		}
	}
	// Breadth first: each state's failure link is complete before its
	// children need it, and missing edges become the failure's edges.
	fail := make([]int32, len(nodes))
	queue := make([]int32, 0, len(nodes))
	for c := range ps.classes {
		switch t := nodes[0].edges[c]; {
		case t < 0 || c == 0:
			nodes[0].edges[c] = 0
		default:
			fail[t] = 0
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := 1; c < ps.classes; c++ {
			t := nodes[s].edges[c]
			if t < 0 {
				nodes[s].edges[c] = nodes[fail[s]].edges[c]
				continue
			}
			f := nodes[fail[s]].edges[c]
			fail[t] = f
			nodes[t].out |= nodes[f].out
			nodes[t].lang |= nodes[f].lang
			queue = append(queue, t)
		}
		nodes[s].edges[0] = 0
	}
	if len(nodes) >= 1<<15 {
		panic("parser: too many phrase states for 16-bit entries")
	}
	ps.next = make([]uint16, len(nodes)*ps.classes)
	ps.out = make([]uint64, len(nodes))
	ps.lang = make([]uint64, len(nodes))
	for i, n := range nodes {
		row := ps.next[i*ps.classes : (i+1)*ps.classes]
		for c, t := range n.edges {
			row[c] = uint16(t) << 1
			if nodes[t].out != 0 || nodes[t].lang != 0 {
				row[c] |= 1
			}
		}
		ps.out[i], ps.lang[i] = n.out, n.lang
	}
	return ps
}

// scan returns the signals and the languages of the phrases in text.
func (ps *phraseSet) scan(text string) (signals signalMask, langs uint64) {
	v, k := uint16(0), ps.classes
	var out, lang uint64
	for i := 0; i < len(text); i++ {
		v = ps.next[int(v>>1)*k+int(ps.class[text[i]])]
		if v&1 != 0 { // rare: a phrase ends here
			out |= ps.out[v>>1]
			lang |= ps.lang[v>>1]
		}
	}
	return signalMask(out), lang
}

// each calls fn with the end of each phrase found in text and its
// signals, in text order, until fn returns false.
func (ps *phraseSet) each(text string, fn func(end int, found signalMask) bool) {
	v, k := uint16(0), ps.classes
	for i := 0; i < len(text); i++ {
		v = ps.next[int(v>>1)*k+int(ps.class[text[i]])]
		if v&1 != 0 && !fn(i+1, signalMask(ps.out[v>>1])) {
			return
		}
	}
}

// first returns the lowest signal found in text, or ok false: with signals
// numbered in order of preference, the preferred phrase that occurs.
func (ps *phraseSet) first(text string) (s signal, ok bool) {
	found, _ := ps.scan(text)
	if found == 0 {
		return 0, false
	}
	return signal(bits.TrailingZeros64(uint64(found))), true
}
