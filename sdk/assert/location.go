package assert

import (
	"runtime"
	"strings"
)

// location is where an assertion is in the source. Class is the package
// path, function the rest of the runtime's function name ("main",
// "(*Server).apply", "run.func1"), as the Antithesis SDK reports it.
type location struct {
	class, function, file string
	line, column          int
}

// callerLocation returns the location of the caller skip frames above its
// own caller (skip 0 is the function calling callerLocation).
func callerLocation(skip int) location {
	var pcs [1]uintptr
	if runtime.Callers(skip+2, pcs[:]) == 0 {
		return location{class: "*class*", function: "*function*", file: "*file*"}
	}
	fr, _ := runtime.CallersFrames(pcs[:]).Next()
	loc := location{file: fr.File, line: fr.Line}
	loc.class, loc.function = splitFuncName(fr.Function)
	if loc.file == "" {
		loc.file = "*file*"
	}
	return loc
}

// splitFuncName splits a runtime function name into package path and the
// function within the package.
func splitFuncName(full string) (pkg, fn string) {
	if full == "" {
		return "*class*", "*function*"
	}
	head := full
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i] // type arguments may contain slashes and dots
	}
	slash := strings.LastIndexByte(head, '/')
	dot := strings.IndexByte(head[slash+1:], '.')
	if dot < 0 {
		return "", full
	}
	cut := slash + 1 + dot
	return full[:cut], full[cut+1:]
}
