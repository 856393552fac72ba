# syntax=docker/dockerfile:1
# Static build of the API; the final image has no shell and runs as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/api ./cmd/api

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="RCA Engine API" \
      org.opencontainers.image.description="Root-cause-analysis service API: starts without its database, fails fast, heals itself" \
      org.opencontainers.image.source="https://github.com/rca-engine/api"
COPY --from=build /out/api /api
ENV PORT=8001 ENVIRONMENT=production
EXPOSE 8001
USER nonroot:nonroot
# The binary checks itself: no shell or curl needed in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 CMD ["/api", "healthcheck"]
ENTRYPOINT ["/api"]
