#!/bin/bash
# Installs the object-store servers that internal/storetest starts for tests (see shared/DESIGN.md,
# "Test servers"). Idempotent; run as root on Debian 12 with Go and npm available.
#   S3:    versitygw (posix backend)          go install
#   GCS:   fake-gcs-server                    go install
#   Azure: azurite (azurite-blob)             npm install -g
#   Swift: Debian swift SAIO + memcached      apt
set -euo pipefail

VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.8.0}
FAKEGCS_VERSION=${FAKEGCS_VERSION:-v1.56.1}
AZURITE_VERSION=${AZURITE_VERSION:-3.37.0}
BIN=${BIN:-/usr/local/bin}

log() { echo "stores.sh: $*" >&2; }

# goinstall PKG@VERSION NAME: builds NAME into $BIN unless that exact version is already there.
goinstall() {
	local pkg=$1 name=$2 version=${1##*@} stamp="$BIN/.$2.version"
	if [[ -x $BIN/$name && -f $stamp && $(cat "$stamp") == "$version" ]]; then
		log "$name $version already installed"
		return
	fi
	log "building $pkg"
	local tmp
	tmp=$(mktemp -d)
	GOBIN=$tmp GOFLAGS=-buildvcs=false go install "$pkg"
	install -m 0755 "$tmp/$name" "$BIN/$name"
	echo "$version" >"$stamp"
	rm -rf "$tmp"
}

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
goinstall "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" versitygw
goinstall "github.com/fsouza/fake-gcs-server@$FAKEGCS_VERSION" fake-gcs-server

if command -v azurite-blob >/dev/null && [[ $(npm ls -g azurite --depth=0 2>/dev/null) == *"azurite@$AZURITE_VERSION"* ]]; then
	log "azurite $AZURITE_VERSION already installed"
else
	command -v npm >/dev/null || { log "npm is not on PATH"; exit 1; }
	log "npm install -g azurite@$AZURITE_VERSION"
	npm install -g --no-audit --no-fund "azurite@$AZURITE_VERSION" >/dev/null
fi

pkgs=(swift swift-proxy swift-account swift-container swift-object memcached python3-swiftclient curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	# The packages start system services we do not use; the tests run their own instances.
	for s in memcached swift-proxy swift-account swift-container swift-object; do
		if command -v systemctl >/dev/null && systemctl is-active --quiet "$s" 2>/dev/null; then
			systemctl stop "$s" || true
			systemctl disable "$s" >/dev/null 2>&1 || true
		fi
	done
else
	log "swift packages already installed"
fi
log "done"
