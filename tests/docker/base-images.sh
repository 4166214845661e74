#!/usr/bin/env bash
# Makes the base images the Dockerfile's FROM lines name, locally: no registry is
# reachable on CI. Used by tests/docker_e2e.rs; needs root, debootstrap and a docker CLI
# pointed at the test's own daemon (DOCKER_HOST).
#
#   tests/docker/base-images.sh CACHE_DIR      (the test passes $TMPDIR/clawdbot-docker-e2e-cache)
#
# One `debootstrap --variant=minbase trixie` (plus ca-certificates, tzdata, libstdc++6),
# cached as CACHE_DIR/trixie-minbase-YYYYMMDD.tar so reruns on the same day skip it, becomes:
#   debian:trixie-slim                      the whole tree, docs dropped
#   gcr.io/distroless/cc-debian13:nonroot   a distroless-like subset: glibc, libgcc,
#                                           libstdc++, CA certificates, tzdata, passwd
#                                           with root/nobody/nonroot, /tmp, no shell
# Both are stand-ins with the same shape as the published images, not copies of them.
set -euo pipefail
cache=${1:?usage: base-images.sh CACHE_DIR}
mkdir -p "$cache"
stamp=$(date -u +%Y%m%d)
tarball="$cache/trixie-minbase-$stamp.tar"
work=$(mktemp -d "${TMPDIR:-/tmp}/clawdbot-base.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -s "$tarball" ]; then
  echo "base-images: debootstrap trixie (cached in $tarball)"
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6,tzdata \
    trixie "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*
  tar -C "$work/rootfs" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$work/rootfs"
  find "$cache" -maxdepth 1 -name 'trixie-minbase-*.tar' ! -name "${tarball##*/}" -delete
fi

image_exists() { docker image inspect "$1" >/dev/null 2>&1 && [ "$(docker image inspect -f '{{index .Config.Labels "clawdbot.base"}}' "$1")" = "$stamp" ]; }

if ! image_exists debian:trixie-slim; then
  mkdir "$work/slim"
  tar -C "$work/slim" -xf "$tarball"
  rm -rf "$work/slim"/usr/share/doc/* "$work/slim"/usr/share/man/* "$work/slim"/usr/share/info/*
  tar -C "$work/slim" --numeric-owner -c . | docker import \
    --change 'CMD ["bash"]' --change "LABEL clawdbot.base=$stamp" - debian:trixie-slim >/dev/null
  rm -rf "$work/slim"
fi

if ! image_exists gcr.io/distroless/cc-debian13:nonroot; then
  mkdir -p "$work/full" "$work/dl"
  tar -C "$work/full" -xf "$tarball"
  # The packages' own files (as dpkg lists them), minus docs; then the generated CA bundle.
  (cd "$work/full" && cat var/lib/dpkg/info/{libc6,libgcc-s1,libstdc++6}:amd64.list \
    var/lib/dpkg/info/{tzdata,base-files}.list | sort -u |
    grep -Ev '^/usr/share/(doc|man|info|lintian|bug|common-licenses)(/|$)|^/\.$' |
    while IFS= read -r f; do if [ -f ".$f" ] || [ -L ".$f" ]; then printf '.%s\n' "$f"; fi; done) >"$work/files"
  tar -C "$work/full" --no-recursion -cf - -T "$work/files" | tar -C "$work/dl" -xf -
  cd "$work/dl"
  for d in bin sbin lib lib64; do [ -e "$d" ] || [ -L "$d" ] || ln -s "usr/$d" "$d"; done
  mkdir -p usr/bin usr/sbin usr/lib64 etc/ssl/certs home/nonroot root tmp var/tmp
  cp "$work/full/etc/ssl/certs/ca-certificates.crt" etc/ssl/certs/
  chmod 1777 tmp var/tmp
  chown 65532:65532 home/nonroot
  chmod 0700 root
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >etc/passwd
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >etc/group
  cd - >/dev/null
  tar -C "$work/dl" --numeric-owner -c . | docker import \
    --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL clawdbot.base=$stamp" - gcr.io/distroless/cc-debian13:nonroot >/dev/null
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(debian:trixie-slim|gcr.io/distroless)' || true
