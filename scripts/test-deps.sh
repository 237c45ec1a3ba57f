#!/usr/bin/env bash
# Installs the real servers the integration tests talk to (Dovecot, sshd, isync
# for the benchmark's mbsync) when they are missing. In CI (CI=true) a server
# that cannot be installed fails the run; elsewhere the tests that need it skip.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v mbsync >/dev/null 2>&1 || need+=(isync)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
	echo "test-deps: missing ${need[*]} and not root: install them by hand" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "test-deps: installing ${need[*]}" >&2
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2; then
	echo "test-deps: could not install ${need[*]}" >&2
	[ "${CI:-}" = true ] && exit 1
fi
exit 0
