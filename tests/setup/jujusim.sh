#!/bin/sh
# Installs what jujusim's machines (internal/jujusim/machine) and their tests need on a fresh
# Debian 12: iproute2 (ip, bridge), util-linux (unshare, nsenter, taskset, mountpoint, runuser),
# mount, procps, mawk (awk), coreutils, iptables (so that the test of a FORWARD policy of DROP
# runs), PostgreSQL 15 with postgresql-common (pg_createcluster, pg_ctlcluster, psql), which
# the host's own tests use, and debootstrap and dpkg-dev (dpkg-scanpackages), with which
# `jujusim image build` makes the machines' root filesystem. Idempotent; run as root.
set -eu

need=""
for pkg in iproute2 util-linux mount procps mawk coreutils iptables postgresql-15 postgresql-client-15 postgresql-common debootstrap dpkg-dev; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		need="$need $pkg"
	fi
done
if [ -n "$need" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086 # word splitting intended
	apt-get install -y -qq --no-install-recommends $need
fi

# Machines do not need the host's own cluster; a package install may have started one. It does no
# harm (machines have their own network namespaces), so it is left alone.
for tool in ip unshare nsenter taskset mount umount mountpoint awk pg_createcluster pg_ctlcluster psql runuser debootstrap dpkg-scanpackages; do
	command -v "$tool" >/dev/null || { echo "jujusim setup: $tool is still missing" >&2; exit 1; }
done
