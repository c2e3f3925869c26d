# One image with every Fleetwire binary: /fleetwire-runtime (the default
# entrypoint) and /fleetwire-operator (config/manager sets it as the
# command). It runs as a non-root user and needs no writable filesystem.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN mkdir -p /out && for d in cmd/*/; do \
      n=$(basename "$d"); \
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "/out/fleetwire-$n" "./cmd/$n"; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/fleetwire-runtime"]
