// Command uploadsink is the baseline of the upload benchmark
// (scripts/bench-uploads.sh): the most trivial HTTP server that writes a
// request body to disk, so that the service's upload throughput can be
// read as a ratio against what the machine does with no checks at all.
// With -multipart it reads the body as a multipart form part by part
// (mime/multipart, as the service does); with -sync it fsyncs the file
// before answering, as the service's store does.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	dir := flag.String("dir", os.TempDir(), "where bodies are written")
	sync := flag.Bool("sync", false, "fsync each file before answering")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.CreateTemp(*dir, "sink-*")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		var src io.Reader = r.Body
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				if p.FileName() != "" {
					src = p
					break
				}
			}
		}
		n, err := io.Copy(f, src)
		if err == nil && *sync {
			err = f.Sync()
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d bytes to %s\n", n, filepath.Base(f.Name()))
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
