# Production image of tiercache: a static binary on distroless, as uid 65532.
#
#   docker build -t tiercache .
#   docker run -p 5000:5000 -v tiercache-data:/data tiercache
#
# docker-compose.yml builds it; loadtest/compose_test.go checks the rules
# below (pinned bases, the builder's Go matching go.mod, static -trimpath
# build, non-root, exec-form healthcheck).

# The Go of go.mod's go directive; GOTOOLCHAIN=local so a newer go directive
# fails the build here instead of downloading another toolchain.
FROM golang:1.26.8-bookworm AS build
ENV GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/tiercache ./cmd/tiercache
# The store's directory, owned by the runtime user: a new named volume mounted
# on /data takes over this ownership, so the non-root process can write there.
RUN mkdir -p /rootfs/data && chown 65532:65532 /rootfs/data

# No shell, no package manager, no curl: the healthcheck is the binary itself.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/tiercache /tiercache
COPY --from=build --chown=65532:65532 /rootfs/ /
USER 65532:65532
ENV TIERCACHE_LISTEN=:5000 \
    TIERCACHE_STORE=bolt:/data/tiercache.db
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/tiercache", "healthcheck"]
ENTRYPOINT ["/tiercache"]
