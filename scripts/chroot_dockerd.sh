#!/usr/bin/env bash
# Build (or reuse) the Debian chroots that carry the newer dockerd test peers.
#
#   scripts/chroot_dockerd.sh build SUITE...   build each chroot unless it is cached and complete
#   scripts/chroot_dockerd.sh mirror           print the Debian mirror this machine's apt uses
#
# trixie carries docker.io 26.1.5, sid 28.5.2 (bookworm, the machine itself, 20.10.24). A chroot
# lives in $IPAMX_SPY_CHROOTS/SUITE (default /var/cache/ipamx-spy/chroots/SUITE) and is complete
# when its stamp file .ipamx-spy-complete exists; the stamp holds the dockerd version. It is built
# in a temporary directory next to it and renamed into place only when finished, so an
# interrupted build is never taken as complete. The mirror is read at run time from the
# machine's apt sources; it is a dated snapshot, so apt is told not to check the Release date.
set -euo pipefail

CACHE=${IPAMX_SPY_CHROOTS:-/var/cache/ipamx-spy/chroots}
STAMP=.ipamx-spy-complete
APT_OPTS=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -qq)

mirror() {
  # deb822 sources first (URIs: lines), then the one-line format; the first non-security entry.
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources \
          | grep -v -- '-security' | head -n 1 || true)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' \
          /etc/apt/sources.list | grep -v -- '-security' | head -n 1 || true)
  fi
  if [ -z "$uri" ]; then
    echo "chroot_dockerd: no Debian mirror found in /etc/apt/sources.list{,.d/*.sources}" >&2
    return 1
  fi
  echo "$uri"
}

unmount_below() {
  # Deepest first, so that a half-built tree can be removed (debootstrap mounts proc and sys).
  local dir
  dir=$(realpath -m "$1")
  awk -v p="$dir/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r \
    | while read -r point; do umount -l "$point" || true; done
}

build_one() {
  local suite=$1 dir=$CACHE/$1 tmp url
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.$suite.lock"
  flock 9
  if [ -f "$dir/$STAMP" ]; then
    echo "chroot_dockerd: $suite reused ($(cat "$dir/$STAMP"))"
    return 0
  fi
  url=$(mirror)
  for old in "$CACHE"/.build-"$suite".*; do
    [ -e "$old" ] || continue
    unmount_below "$old"
    rm -rf --one-file-system "$old"
  done
  tmp=$(mktemp -d "$CACHE/.build-$suite.XXXXXX")
  trap 'unmount_below "$tmp"; rm -rf --one-file-system "$tmp"' EXIT
  echo "chroot_dockerd: building $suite in $tmp"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$tmp" "$url" \
    >"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; return 1; }
  # No service starts inside the chroot while packages are installed.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update
  chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
    docker.io iproute2 >/dev/null
  chroot "$tmp" apt-get clean
  unmount_below "$tmp"
  chroot "$tmp" dockerd --version >"$tmp/$STAMP"
  rm -f "$tmp.log"
  if [ -e "$dir" ]; then
    unmount_below "$dir"
    rm -rf --one-file-system "$dir"
  fi
  mv "$tmp" "$dir"
  trap - EXIT
  echo "chroot_dockerd: $suite built ($(cat "$dir/$STAMP"))"
}

case "${1:-}" in
  build)
    shift
    [ $# -gt 0 ] || set -- trixie sid
    for suite in "$@"; do (build_one "$suite"); done
    ;;
  mirror)
    mirror
    ;;
  *)
    echo "usage: $0 build [SUITE...] | mirror" >&2
    exit 2
    ;;
esac
