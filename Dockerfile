# syntax=docker/dockerfile:1
# Build: a static binary with the version stamped in.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" \
      -o /out/remediator ./cmd/remediator

# Run: distroless static, non-root, nothing but the binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/remediator /remediator
USER nonroot:nonroot
EXPOSE 9095
ENTRYPOINT ["/remediator"]
CMD ["serve", "--listen-address=:9095"]
