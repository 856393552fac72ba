// Package loghubtest finds the Loghub-2k benchmark logs for tests and
// benchmarks. They live outside the repository (their licence forbids
// copying them in): LOGHUB_DIR, or a folder shared/data/loghub-2k beside any
// parent of the working directory (a checkout at /work/main finds
// /work/shared; CI puts shared/ beside its clone, wherever that is). Tests
// that need them skip without them; unit tests never do.
package loghubtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Datasets are the 16 logs of Loghub-2k.
var Datasets = []string{"Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
	"OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"}

// Dir returns the Loghub-2k folder, or skips tb when there is none. A
// LOGHUB_DIR that does not hold it is a mistake, not a skip.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("LOGHUB_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "HDFS")); err != nil {
			tb.Fatalf("LOGHUB_DIR=%s has no HDFS folder: %v", d, err)
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; {
		cand := filepath.Join(dir, "shared", "data", "loghub-2k")
		if st, err := os.Stat(filepath.Join(cand, "HDFS")); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	tb.Skip("Loghub-2k not found (set LOGHUB_DIR, or put shared/data/loghub-2k beside a parent of the checkout)")
	return ""
}
