package blob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fsTemps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "put-") {
			names = append(names, e.Name())
		}
	}
	return names
}
