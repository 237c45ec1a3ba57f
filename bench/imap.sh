#!/usr/bin/env bash
# IMAP benchmarks against a real Dovecot (installed by scripts/test-deps.sh):
#   backlog  10,000 mails (+ one of 90 MiB, kept beside the store) by `abusewatch watch --once`,
#            beside mbsync downloading the same folder; ratio and peak RSS
#   latency  APPEND -> message committed with IDLE, p50/p99 over 200 mails,
#            beside Dovecot's own APPEND -> EXISTS delay on a second connection
#   chat     APPEND -> chat message at a local webhook receiver, p50/p99 over
#            200 mails, as the delay above the same APPEND -> EXISTS
# Usage: bench/imap.sh            (results on stdout, in go test -bench format)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/test-deps.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/abusewatch" ./cmd/abusewatch
ABUSEWATCH_BIN="$out/abusewatch" go test ./bench -run '^$' -bench 'IMAP|Chat' -benchtime 1x -timeout 30m -v
