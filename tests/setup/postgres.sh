#!/bin/bash
# PostgreSQL and the tools the charm's tests use, on a fresh Debian 12 machine (root).
set -euo pipefail
need=()
# lzop: the archive tests compress WAL-E fixtures with the real tool (WAL-E ran `lzop -c`).
for p in postgresql postgresql-contrib postgresql-client iproute2 util-linux procps zip unzip curl ca-certificates git make lzop; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
# The distribution's package creates and starts a "main" cluster; tests create their own.
