// Package layers holds no code: its test enforces the dependency rules of
// the architecture (docs/architecture.md, Layers) over the whole module, so
// the layering is checked on every change rather than described in a wiki.
package layers
