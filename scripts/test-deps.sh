#!/usr/bin/env bash
# Installs the real servers and tools the integration tests use when they are
# missing: Dovecot (IMAP, and LMTP for the outgoing-mail test), sshd, clamav
# (the triage scan test), procps and iproute2 (the triage kit), isync (mbsync,
# for the IMAP benchmark), Docker and busybox-static (containers for the
# culprit and containment tests, from a local image), Postfix (the MTA for
# statements), Chromium (the dashboard test) and PostgreSQL (the second store
# driver). In CI (CI=true) one that cannot be installed fails the run;
# elsewhere its tests skip. Each test starts its own instance, in a temp
# directory on its own port or socket, and stops it by its pid.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v mbsync >/dev/null 2>&1 || need+=(isync)
command -v clamscan >/dev/null 2>&1 || need+=(clamav)
command -v ps >/dev/null 2>&1 || need+=(procps)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/sbin/postfix ] || need+=(postfix)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

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
# Postfix asks how to configure itself; the tests write their own main.cf.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections 2>/dev/null || true
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2; then
	echo "test-deps: could not install ${need[*]}" >&2
	[ "${CI:-}" = true ] && exit 1
fi
exit 0
