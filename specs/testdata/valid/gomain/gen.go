//go:build ignore

package tools
