// Command rca analyses logs without a server: it runs the same engine the
// worker runs and prints the ranked probable causes with their evidence.
//
//	rca analyze [flags] FILE|DIR|- ...
//
// Folders are read recursively (files in name order), "-" is standard input,
// archives (.zip, .tar, .tar.gz, .gz) are unpacked as the upload path unpacks
// them. Exit status: 0 when the report was produced, 1 on an error, 2 on a
// usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: rca analyze [flags] FILE|DIR|- ...

Reads logs (files, folders recursively, - for standard input, archives) and
prints the probable root causes, ranked, with the evidence lines.

Flags:
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stdout
		code := 0
		if len(args) == 0 {
			w, code = stderr, 2
		}
		fmt.Fprint(w, usage)
		f := newFlags(w)
		f.fs.PrintDefaults()
		return code
	}
	if args[0] != "analyze" {
		fmt.Fprintf(stderr, "rca: unknown command %q (want: analyze)\n", args[0])
		return 2
	}
	return analyze(ctx, args[1:], stdin, stdout, stderr)
}
