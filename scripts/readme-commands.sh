#!/usr/bin/env bash
# Runs the README's Quick start commands verbatim, so that the README stays
# true. The Quick start is exactly two commands: the demo and `make test`.
# `make test` is what calls this script, so it is checked to be there but not
# run again; every other command is run as written and must succeed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first ```sh block after "## Quick start", comments and blank lines dropped.
mapfile -t cmds < <(awk '
	/^## Quick start/ { inside = 1; next }
	inside && /^## / { exit }
	inside && /^```sh/ { block = 1; next }
	block && /^```/ { exit }
	block {
		sub(/[[:space:]]+#.*$/, "")
		if ($0 !~ /^[[:space:]]*(#|$)/) print
	}
' README.md)

if [ "${#cmds[@]}" -ne 2 ] || [ "${cmds[1]}" != "make test" ]; then
	echo "readme-commands: the Quick start must be two commands, the second \`make test\`; found:" >&2
	printf '  %s\n' "${cmds[@]}" >&2
	exit 1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for cmd in "${cmds[@]}"; do
	[ "$cmd" = "make test" ] && continue
	echo "readme-commands: \$ $cmd" >&2
	# Bounded so that a hang fails the run instead of stalling CI.
	if ! timeout 10m bash -c "$cmd" >"$out"; then
		echo "readme-commands: \`$cmd\` failed" >&2
		cat "$out" >&2
		exit 1
	fi
	cat "$out"
done

# The demo's promise: it ends with the incidents table.
if ! grep -q '^ID  *STATUS  *SEVERITY' "$out"; then
	echo "readme-commands: the demo printed no incidents table" >&2
	exit 1
fi
echo "readme-commands: ok" >&2
