#!/usr/bin/env bash
# Installs the real servers and tools the integration tests use when they are
# missing: Dovecot, sshd, clamav (the triage scan test), procps and iproute2
# (the triage kit), isync (mbsync, for the IMAP benchmark). In CI (CI=true) a
# server that cannot be installed fails the run; elsewhere its tests skip.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v mbsync >/dev/null 2>&1 || need+=(isync)
command -v clamscan >/dev/null 2>&1 || need+=(clamav)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v ss >/dev/null 2>&1 || need+=(iproute2)

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
