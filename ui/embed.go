// Package ui holds the web UI's production build (ui/dist, made by
// `npm run build`), embedded in the binary so that one file serves the UI
// and the API from the same origin.
//
// dist/.gitkeep keeps the embed pattern valid in a clone that has no build
// yet: the binary then still starts, and "/" explains how to build the UI.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the build's files and whether there is a build at all.
func Dist() (fs.FS, bool) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return sub, false
	}
	return sub, true
}
