package bench

import (
	"fmt"
	"strings"
)

// Content kinds (Config.Content, Job.Content.Kind).
const (
	// ContentText is record-like text: a header with the item ID, the
	// version tag and a 22-character random reference, then words drawn
	// from a list of 64. It compresses about as well as small JSON records
	// do (gzip over a batch: roughly 2.5x).
	ContentText = "text"
	// ContentRandom is random characters of the base64url alphabet (6 bits
	// of entropy per byte): compression gains little on the content.
	ContentRandom = "random"
)

// ContentSpec says how item content is generated.
type ContentSpec struct {
	Kind string `json:"kind"`
	Size int    `json:"size"`
}

// itemID is the ID of item i of a collection: "item-0000042". Every
// system uses the same IDs.
func itemID(i int) string { return fmt.Sprintf("item-%07d", i) }

// words are the vocabulary of ContentText.
var words = [64]string{
	"the", "of", "and", "to", "in", "is", "for", "on", "with", "as", "at", "by",
	"visit", "patient", "clinic", "report", "site", "check", "pump", "valve",
	"north", "south", "east", "west", "field", "sample", "water", "soil",
	"pressure", "reading", "normal", "high", "low", "follow", "up", "next",
	"week", "today", "done", "open", "closed", "pending", "note", "team",
	"route", "depot", "stock", "order", "ship", "return", "damaged", "ok",
	"call", "back", "before", "after", "morning", "evening", "repair", "parts",
	"install", "remove", "replace", "inspect",
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// rng is mulberry32 seeded with FNV-1a of a string: small, fast, and the
// same in JavaScript (bench/peers/pouchdb/content.js), so that both systems
// store byte-identical content for an (id, tag) pair.
type rng struct{ a uint32 }

func newRNG(seed string) *rng {
	h := uint32(2166136261)
	for i := 0; i < len(seed); i++ {
		h ^= uint32(seed[i])
		h *= 16777619
	}
	return &rng{a: h}
}

func (r *rng) next() uint32 {
	r.a += 0x6D2B79F5
	t := r.a
	t = (t ^ t>>15) * (t | 1)
	t ^= t + (t^t>>7)*(t|61)
	return t ^ t>>14
}

// Content returns the content of item id at version tag: exactly spec.Size
// bytes of printable ASCII without quotes or backslashes (so that a JSON
// peer stores it in a string without escaping).
func Content(spec ContentSpec, id, tag string) []byte {
	r := newRNG(id + "/" + tag)
	out := make([]byte, 0, spec.Size+16)
	if spec.Kind == ContentRandom {
		for len(out) < spec.Size {
			out = append(out, b64url[r.next()>>26])
		}
		return out
	}
	var sb strings.Builder
	sb.WriteString("id=")
	sb.WriteString(id)
	sb.WriteString(" v=")
	sb.WriteString(tag)
	sb.WriteString(" ref=")
	for range 22 {
		sb.WriteByte(b64url[r.next()>>26])
	}
	sb.WriteString(" note:")
	out = append(out, sb.String()...)
	for len(out) < spec.Size {
		out = append(out, ' ')
		out = append(out, words[r.next()>>26]...)
	}
	return out[:spec.Size]
}
