# syntax=docker/dockerfile:1
# Three stages: the web UI (Vite), a static Go binary that embeds it, and a
# minimal final image with no shell that runs as non-root.

FROM node:20-bookworm AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci
COPY ui/ ./
RUN npm run build

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The UI build replaces the placeholder, so the binary serves it at /.
COPY --from=ui /ui/dist ./ui/dist
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/api ./cmd/api

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="RCA Engine API" \
      org.opencontainers.image.description="Root-cause-analysis service: API and web UI; starts without its database, fails fast, heals itself" \
      org.opencontainers.image.source="https://github.com/rca-engine/api" \
      org.opencontainers.image.licenses="UNLICENSED"
COPY --from=build /out/api /api
ENV PORT=8001 ENVIRONMENT=production
EXPOSE 8001
USER nonroot:nonroot
# The binary checks itself: no shell or curl needed in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 CMD ["/api", "healthcheck"]
ENTRYPOINT ["/api"]
