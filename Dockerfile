# One image with every Fleetwire binary: /fleetwire-runtime (the default
# entrypoint) and /fleetwire-operator (config/manager sets it as the
# command). It runs as a non-root user and needs no writable filesystem.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t ghcr.io/fleetwire/fleetwire:v0.1.0 .
#
# (make docker-build does this.) The binaries are built by hack/build.sh,
# the same command make build runs and test/build checks.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}" ./hack/build.sh /out

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/fleetwire-runtime"]
