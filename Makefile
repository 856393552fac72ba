# Shortcuts; each target is one or two plain commands you can run yourself.
.PHONY: run ui build test test-go test-ui chaos

run: ui            ## build the web UI, then serve UI and API on :8001
	go run ./cmd/api

ui:                ## build the web UI into ui/dist (embedded by the next go build)
	cd ui && npm ci && npm run build

build: ui          ## a single binary serving UI and API
	go build -o bin/api ./cmd/api

test: test-go test-ui  ## the whole suite: Go (real PostgreSQL and Redis) and UI

test-go:
	go test -race -count=1 ./...

test-ui:
	cd ui && npm ci && npm run typecheck && npm test

chaos:             ## the chaos harness, short profile
	go run ./cmd/chaos -profile short
