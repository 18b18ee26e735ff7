#!/usr/bin/env bash
# Build a local Python base image for the Dockerfile without a registry.
#
#   scripts/build_base_image.sh [TAG]        # prints the tag on stdout when the image is ready
#   docker build --network host --build-arg BASE="$(scripts/build_base_image.sh)" -t ipamx-spy .
#
# Debian (python3 and python3-venv, from the Debian mirror) is bootstrapped with debootstrap and
# imported with `docker import`. Two caches, so that the slow step runs once per machine:
# the image tag in dockerd (nothing to do when it exists) and the root filesystem tarball in
# $IPAMX_BASE_CACHE (a new dockerd imports it in seconds).
#
# Needs root, debootstrap (apt-get install debootstrap) and the docker CLI (DOCKER_HOST is honoured).
set -euo pipefail

SUITE="${IPAMX_BASE_SUITE:-bookworm}"
# The mirror is the one this machine's apt uses, read at run time (never written into a file).
MIRROR="${IPAMX_BASE_MIRROR:-$("$(dirname "$0")/chroot_dockerd.sh" mirror)}"
CACHE="${IPAMX_BASE_CACHE:-/var/cache/ipamx-spy}"
PACKAGES="python3,python3-venv"
TAG="${1:-ipamx-spy-base:$SUITE}"
TARBALL="$CACHE/base-$SUITE-$(echo "$PACKAGES" | tr ',' '-').tar"

say() { echo "build_base_image: $*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG is already in dockerd"
  echo "$TAG"
  exit 0
fi

bootstrap() {
  command -v debootstrap >/dev/null || { say "needs debootstrap (apt-get install debootstrap)"; exit 2; }
  root="$(mktemp -d /tmp/ipamx-base.XXXXXX)"
  # debootstrap mounts /proc and /sys in the target; never let rm walk into them.
  trap 'umount -R "$root/proc" "$root/sys" 2>/dev/null || true; rm -rf --one-file-system "$root"' EXIT
  say "debootstrap $SUITE ($PACKAGES) from $MIRROR into $root"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
         "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log
  mkdir -p "$CACHE"
  tar --numeric-owner -C "$root" -cf "$TARBALL.$$.tmp" .
  mv "$TARBALL.$$.tmp" "$TARBALL"
}

if [ ! -s "$TARBALL" ]; then
  bootstrap
else
  say "using the cached root filesystem $TARBALL"
fi
docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
  -m "Debian $SUITE with $PACKAGES (scripts/build_base_image.sh)" "$TARBALL" "$TAG" >&2
echo "$TAG"
