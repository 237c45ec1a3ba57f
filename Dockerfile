# syntax=docker/dockerfile:1
# abusewatch in a container. SQLite is mattn/go-sqlite3, so the build needs
# cgo and the runtime the same glibc: both stages are Debian bookworm.
#
#   docker build -t abusewatch .
#   docker run --rm abusewatch demo
#   docker run -d --name abusewatch \
#     -v /etc/abusewatch:/etc/abusewatch:ro -v abusewatch-state:/var/lib/abusewatch \
#     --env-file /etc/abusewatch/abusewatch.env -p 127.0.0.1:9464:9464 abusewatch
#
# In a container set `http.listen: 0.0.0.0:9464` (the default listens on the
# container's own loopback) with `http.auth_token_env` (required off loopback:
# the dashboard shows abuse mail), and publish the port on the host's loopback only.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/abusewatch ./cmd/abusewatch \
 && /out/abusewatch --help >/dev/null

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/abusewatch --shell /usr/sbin/nologin abusewatch \
 && install -d -o abusewatch -g abusewatch -m 0700 /var/lib/abusewatch
COPY --from=build /out/abusewatch /usr/local/bin/abusewatch
USER abusewatch:abusewatch
WORKDIR /var/lib/abusewatch
ENV ABUSEWATCH_CONFIG=/etc/abusewatch/abusewatch.yaml
VOLUME ["/var/lib/abusewatch"]
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/abusewatch"]
CMD ["watch"]
