#!/usr/bin/env bash
# engines.sh: the real engines luciac's end-to-end tests run bundles on, and their images.
#
#   scripts/engines.sh install        Debian packages: Docker Engine, Podman (+ runc), buildah,
#                                     skopeo, debootstrap, docker-registry, htpasswd, openssl, curl
#   scripts/engines.sh images         a Debian root filesystem (debootstrap, cached) and the test
#                                     images built from it, as tarballs in the cache (cached by
#                                     the hash of their recipe)
#   scripts/engines.sh start RUN      start dockerd with its own socket, data and pid file under
#                                     RUN, write Podman's config under RUN, import the images
#                                     into both; prints the environment to export
#   scripts/engines.sh stop RUN       kill what start started by pid, remove the iptables chains,
#                                     bridges and netns mounts the engines left, and RUN itself
#
# Idempotent; each step prints how long it took on stderr. Nothing global is changed except
# what the Debian packages install and the iptables chains/bridges the engines create (removed
# by stop). No image is ever pulled: every image is built here from Debian packages.
#
# Images (tests/e2e/images/; stand-ins say so in their own header):
#   redis       Debian's real redis-server, with the official image's contract (UID 999, GID
#               1000 as in the alpine tag, /data owned by them, protected mode off)
#   mongo       a stand-in for MongoDB (not in Debian): mongod/mongosh/mongodump/mongorestore
#   agenthost   a stand-in for Lucia's AgentHost at its process boundary (UID 1100, /app)
#   systemd     Debian with systemd as PID 1, Debian's redis-server, the mongo stand-in as
#               mongod.service, and the agenthost stand-in as a .NET runtime + publish output;
#               for the git-forge example Debian's PostgreSQL 15, sudo, and the forgejo stand-in
#               as the program `forgejo` on the PATH
#   postgres    Debian's real PostgreSQL 15, with the official image's contract (UID/GID 999,
#               docker-entrypoint.sh: a stand-in for the official script's initdb essentials)
#   forgejo     a stand-in for Forgejo's rootless image (not in Debian): UID/GID 1000, dumb-init,
#               curl, HTTP /api/healthz backed by a real query to PostgreSQL
# Env: LUCIAC_E2E_CACHE (default $HOME/.cache/luciac-e2e), DEBIAN_MIRROR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
IMAGES="$HERE/tests/e2e/images"
CACHE="${LUCIAC_E2E_CACHE:-${HOME:?}/.cache/luciac-e2e}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PACKAGES=(docker.io podman buildah skopeo runc slirp4netns fuse-overlayfs catatonit uidmap
  containernetworking-plugins netavark aardvark-dns conmon debootstrap docker-registry
  apache2-utils openssl curl iptables iproute2 util-linux)
# The references lucia.kdl (and examples/git-forge/stack.kdl) name; the committed bundles run
# unchanged against them.
declare -A REFS=(
  [redis]="docker.io/library/redis:7.4-alpine"
  [mongo]="docker.io/library/mongo:8.0"
  [agenthost]="docker.io/seiggy/lucia-agenthost:1.2.3"
  [systemd]="localhost/luciac-e2e/systemd:bookworm"
  [postgres]="docker.io/library/postgres:17.2"
  [forgejo]="codeberg.org/forgejo/forgejo:10.0.0-rootless"
)

log() { echo "engines: $*" >&2; }
die() { log "error: $*"; exit 1; }
timed() { # label cmd...
  local start=$SECONDS
  "${@:2}"
  log "$1: $((SECONDS - start)) s"
}
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -qq "$@" >&2
}

# ---------------------------------------------------------------- install
do_install() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "run as root to install: ${missing[*]}"
  apt_get update
  apt_get install -y --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- images
# chroot_run ROOT CMD...: run in the root filesystem with /proc, /sys and /dev mounted, in a
# private mount namespace so that nothing stays mounted if this script dies.
chroot_run() {
  local root=$1
  shift
  unshare --mount --propagation private -- sh -c '
    root=$1; shift
    mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev"
    exec chroot "$root" "$@"' sh "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
}

base_rootfs() {
  local tar="$CACHE/base-$SUITE.tar"
  [[ -f $tar ]] && return 0
  local dir="$CACHE/tmp/base"
  rm -rf "$dir" && mkdir -p "$dir"
  debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR" >"$CACHE/tmp/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  # Packages are never kept in an image; no daemon may start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" && chmod 755 "$dir/usr/sbin/policy-rc.d"
  chroot_run "$dir" apt-get -qq update >&2
  tar -C "$dir" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$dir"
}

# The recipe of an image is its directory in tests/e2e/images/: `packages` (Debian packages
# added to the base), `setup.sh` (users, files, ownership; sourced with ROOT and STANDINS set)
# and `config` (the image config, one `docker import --change` line each, as the real image has).
IMAGE_NAMES=(redis mongo agenthost systemd postgres forgejo)

# in_root CMD...: for setup.sh, run a command inside the image's root filesystem.
in_root() { chroot_run "$ROOT" "$@"; }

# The agenthost stand-in as a framework-dependent .NET runtime: /usr/share/dotnet/dotnet with the
# shared/Microsoft.AspNetCore.App/10.* layout install.sh checks for, and /usr/bin/dotnet.
install_dotnet_standin() {
  install -D -m 0755 "$STANDINS/agenthost.py" "$ROOT/usr/share/dotnet/dotnet"
  mkdir -p "$ROOT/usr/share/dotnet/shared/Microsoft.AspNetCore.App/10.0.0" \
    "$ROOT/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0"
  ln -sf ../share/dotnet/dotnet "$ROOT/usr/bin/dotnet"
}

recipe_hash() { # NAME
  {
    echo "$SUITE"
    cat "$IMAGES/$1"/* "$IMAGES"/standins/*
    declare -f install_dotnet_standin build_image
  } | sha256sum | cut -c1-16
}

image_tar() { echo "$CACHE/images/$1-$(recipe_hash "$1").tar"; }

build_image() {
  local name=$1 tar
  tar=$(image_tar "$name")
  [[ -f $tar ]] && return 0
  local ROOT="$CACHE/tmp/$name" STANDINS="$IMAGES/standins" log="$CACHE/tmp/$name.log"
  rm -rf "$ROOT" && mkdir -p "$ROOT" "$CACHE/images"
  tar -C "$ROOT" -xf "$CACHE/base-$SUITE.tar"
  # shellcheck disable=SC2046
  chroot_run "$ROOT" apt-get -qq install -y --no-install-recommends $(cat "$IMAGES/$name/packages") >"$log" 2>&1 ||
    { tail -20 "$log" >&2; die "image $name: apt-get install failed"; }
  # A process of its own, so that `set -e` holds (it is ignored in a subshell whose status is tested).
  export ROOT STANDINS
  export -f in_root chroot_run install_dotnet_standin
  bash -euo pipefail "$IMAGES/$name/setup.sh" >>"$log" 2>&1 || { tail -20 "$log" >&2; die "image $name: setup.sh failed"; }
  chroot_run "$ROOT" apt-get -qq clean
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT/usr/sbin/policy-rc.d"
  tar -C "$ROOT" --numeric-owner -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$ROOT"
  # Older builds of the same image are of no use any more.
  find "$CACHE/images" -name "$name-*.tar" ! -path "$tar" -delete
}

do_images() {
  mkdir -p "$CACHE/tmp"
  exec 8>"$CACHE/.lock"
  flock 8
  timed "debian root filesystem" base_rootfs
  local n
  for n in "${IMAGE_NAMES[@]}"; do timed "image $n" build_image "$n"; done
}

# ---------------------------------------------------------------- start / stop
engine_env() { # RUN
  cat <<EOF
export DOCKER_HOST=unix://$1/docker/docker.sock
export CONTAINERS_CONF=$1/podman/containers.conf
export CONTAINERS_STORAGE_CONF=$1/podman/storage.conf
export DOCKER_CONFIG=$1/docker-config
export LUCIAC_E2E_RUN=$1
EOF
}

import_images() { # RUN
  local n changes args
  for n in "${IMAGE_NAMES[@]}"; do
    args=()
    while IFS= read -r changes; do args+=(--change "$changes"); done <"$IMAGES/$n/config"
    # The systemd image is for Podman only (Docker's import knows no STOPSIGNAL).
    if [[ $n != systemd ]]; then
      docker import "${args[@]}" "$(image_tar "$n")" "${REFS[$n]}" >/dev/null
    fi
    podman import --quiet "${args[@]}" "$(image_tar "$n")" "${REFS[$n]}" >/dev/null
    echo "${REFS[$n]}" >>"$1/images"
  done
}

do_start() {
  local run=${1:?usage: engines.sh start RUN}
  mkdir -p "$run/docker" "$run/podman"
  run="$(cd "$run" && pwd -P)"
  local d="$run/docker"
  # dockerd sets the FORWARD policy to DROP; stop puts back what was there.
  [[ -f $run/forward-policy ]] || iptables -S FORWARD 2>/dev/null | awk '$1=="-P" {print $3}' >"$run/forward-policy"
  if ! [[ -f $d/docker.pid ]] || ! kill -0 "$(cat "$d/docker.pid")" 2>/dev/null; then
    dockerd --data-root "$d/data" --exec-root "$d/exec" -H "unix://$d/docker.sock" \
      --pidfile "$d/docker.pid" --exec-opt native.cgroupdriver=cgroupfs \
      --default-ulimit nofile=16384:16384 --default-ulimit nproc=16384:16384 \
      >"$d/dockerd.log" 2>&1 &
    local i
    for i in $(seq 1 60); do
      DOCKER_HOST="unix://$d/docker.sock" docker info >/dev/null 2>&1 && break
      sleep 0.5
    done
    DOCKER_HOST="unix://$d/docker.sock" docker info >/dev/null 2>&1 || { tail -20 "$d/dockerd.log" >&2; die "dockerd did not start"; }
  fi
  cat >"$run/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/podman/events.log"
tmp_dir = "$run/podman/tmp"
[network]
network_config_dir = "$run/podman/networks"
EOF
  cat >"$run/podman/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$run/podman/run"
graphroot = "$run/podman/storage"
EOF
  # `docker compose` is the Compose v2 binary the validators installer provides, as a CLI plugin
  # of a client config of the run's own (the user's ~/.docker is never touched).
  local compose
  compose=$(command -v docker-compose) || die "docker-compose is not on PATH (scripts/install-validators.sh installs it)"
  mkdir -p "$run/docker-config/cli-plugins"
  ln -sf "$compose" "$run/docker-config/cli-plugins/docker-compose"
  [[ -f $run/docker-config/config.json ]] || echo "{}" >"$run/docker-config/config.json"
  eval "$(engine_env "$run")"
  : >"$run/images"
  import_images "$run"
  engine_env "$run"
}

do_stop() {
  local run=${1:?usage: engines.sh stop RUN}
  [[ -d $run ]] || return 0
  run="$(cd "$run" && pwd -P)"
  eval "$(engine_env "$run")"
  # Podman is daemonless: stop its containers and pods, then its conmon processes by pid.
  if [[ -f $CONTAINERS_CONF ]]; then
    podman pod rm -f -a >/dev/null 2>&1 || :
    podman rm -f -a >/dev/null 2>&1 || :
    podman network prune -f >/dev/null 2>&1 || :
  fi
  local pidfile=$run/docker/docker.pid pid
  if [[ -f $pidfile ]]; then
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || :
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || :
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || :
  fi
  # What the engines leave behind: rules that name their bridges or jump to their chains, the
  # chains themselves, bridges, netns mounts. Nothing else on the host is touched.
  local t c rule engine_re='(-j (DOCKER|NETAVARK)[A-Z0-9_-]*|(-i|-o) (docker0|br-[0-9a-f]{12}|podman[0-9]+|cni-podman[0-9]+)( |$)|NETAVARK|DOCKER)'
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep '^-A ' | grep -E -- "$engine_re" | sed 's/^-A/-D/' |
      while read -r rule; do eval "iptables -t $t $rule" 2>/dev/null || :; done || :
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^(DOCKER|NETAVARK)/ {print $2}'); do
      iptables -t "$t" -F "$c" 2>/dev/null || :
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^(DOCKER|NETAVARK)/ {print $2}'); do
      iptables -t "$t" -X "$c" 2>/dev/null || :
    done
  done
  if [[ -s $run/forward-policy ]]; then iptables -P FORWARD "$(cat "$run/forward-policy")" 2>/dev/null || :; fi
  for c in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^(docker0|br-[0-9a-f]+|podman[0-9]+)$' || :); do
    ip link delete "$c" 2>/dev/null || :
  done
  for c in /run/netns/netns-*; do
    [[ -e $c ]] || continue
    umount "$c" 2>/dev/null || :
    rm -f "$c"
  done
  awk -v r="$run/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || :; done || :
  rm -rf "$run"
  check_clean "$run"
}

# check_clean RUN: fail when anything the engines made is still there.
check_clean() {
  local left=()
  pgrep -f -- "$1/" >/dev/null 2>&1 && left+=("processes: $(pgrep -f -a -- "$1/" | head -3 | tr '\n' ' ')")
  iptables -S 2>/dev/null | grep -qE 'DOCKER|NETAVARK|docker0' && left+=("filter rules or chains")
  iptables -t nat -S 2>/dev/null | grep -qE 'DOCKER|NETAVARK|docker0' && left+=("nat rules or chains")
  ip -o link show type bridge 2>/dev/null | grep -qE ': (docker0|br-[0-9a-f]{12}|podman[0-9]+)[:@]' && left+=("bridges")
  compgen -G '/run/netns/netns-*' >/dev/null && left+=("netns mounts")
  [[ -e $1 ]] && left+=("$1")
  if [[ ${#left[@]} -gt 0 ]]; then
    die "left behind after stop: ${left[*]}"
  fi
  return 0
}

case "${1:-}" in
install) timed "install" do_install ;;
images) do_images ;;
start) do_start "${2:-}" ;;
stop) do_stop "${2:-}" ;;
*) echo "usage: $0 install | images | start RUN | stop RUN" >&2; exit 2 ;;
esac
