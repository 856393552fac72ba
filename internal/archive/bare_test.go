package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// bareUnpack reads every member with the standard library alone.
func bareUnpack(b *testing.B, format string, data []byte) int64 {
	var out int64
	switch format {
	case "zip":
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range zr.File {
			r, err := f.Open()
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, r)
			r.Close()
			out += n
		}
	case "tar.gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			if _, err := tr.Next(); err != nil {
				break
			}
			n, _ := io.Copy(io.Discard, tr)
			out += n
		}
	}
	return out
}
