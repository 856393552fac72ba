package api

import (
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// serveUI serves the embedded single-page app: its files as they are, and
// index.html for any other path, so that client-side routes survive a
// reload. It never answers for /api or /metrics, whose unknown paths stay
// problem documents, so a mistyped API call is never mistaken for a page.
func (s *server) serveUI(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/api" || strings.HasPrefix(p, "/api/") || p == "/metrics" || strings.HasPrefix(p, "/metrics/") {
		notFound(w, r, "No such route: "+r.Method+" "+p+".")
		return
	}
	if s.opts.UI == nil {
		if p != "/" {
			notFound(w, r, "No such page; the web UI is not built into this binary.")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("RCA Engine API is running; the API is at /api.\n\n" +
			"The web UI is not built into this binary. To build it:\n\n" +
			"    cd ui && npm ci && npm run build && cd ..\n    go build ./cmd/api\n\n" +
			"or run `npm run dev` in ui/ for a development server that proxies /api here.\n"))
		return
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name != "" {
		if st, err := fs.Stat(s.opts.UI, name); err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				// Vite puts a content hash in every asset's name.
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				w.Header().Set("Cache-Control", "no-cache")
			}
			http.ServeFileFS(w, r, s.opts.UI, name)
			return
		}
		// A missing file (it has an extension) is a 404, not the app:
		// a stale hashed asset must fail visibly rather than load HTML.
		if path.Ext(name) != "" {
			notFound(w, r, "No such file: /"+name+".")
			return
		}
	}
	index, err := fs.ReadFile(s.opts.UI, "index.html")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache") // always fetch the newest list of hashed assets
	_, _ = w.Write(index)
}
