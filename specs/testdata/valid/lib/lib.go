// Package lib is a build context that is not a main package.
package lib
