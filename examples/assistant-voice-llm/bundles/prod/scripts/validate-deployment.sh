#!/bin/sh
# validate-deployment.sh: run the validators luciac's own test suite uses against a bundle
# directory (bundles/<profile>/), a bundle file (.tar.gz, chart .tgz) or an unpacked bundle.
# Works from infra/scripts/ and when copied next to an unpacked bundle. POSIX sh.
#
# Exit codes: 0 every check passed; 1 a check failed or a validator is missing; 2 usage error.
set -eu

PROG=${0##*/}
KUBE_VERSIONS='1.25 1.30'

usage() {
	cat <<EOF
Usage: $PROG [--kube-version V]... PATH...
Run the validators the luciac tests use against each PATH and report one line per check.

PATH is one of:
  bundles/<profile>/                  every bundle in it (and SHA256SUMS when present)
  APP-<profile>-compose-<v>.tar.gz    or an unpacked directory holding compose.yaml
  APP-<v>.tgz                         a Helm chart (values-*.yaml next to it is used)
  APP-<profile>-systemd-<v>.tar.gz    or an unpacked directory holding *.service units
  a Kustomize bundle directory        every overlays/*/ (and base/) is built

Checks:
  compose     docker-compose config -q (or docker compose), nothing on stderr
  helm        helm lint --strict; helm template | kubernetes-validate --strict -k V
  kustomize   kubectl kustomize DIR, nothing on stderr; kubernetes-validate --strict -k V
  systemd     systemd-analyze security --offline=yes --threshold=20 (exposure <= 2.0)
  shellcheck  shellcheck -s sh on every POSIX shell script of the bundle
  sha256sums  sha256sum -c SHA256SUMS (bundle directories only)

Options:
  --kube-version V  Kubernetes version for kubernetes-validate (repeatable;
                    default: $KUBE_VERSIONS, the chart's minimum and a current one)
  -h, --help        show this help

Exit status: 0 all checks passed, 1 a check failed or a validator is missing, 2 usage error.
EOF
}

usage_error() {
	printf '%s: %s (see --help)\n' "$PROG" "$1" >&2
	exit 2
}

kube_versions=
while [ "$#" -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--kube-version)
		[ "$#" -ge 2 ] || usage_error '--kube-version needs a value'
		kube_versions="$kube_versions $2"
		shift 2
		;;
	--kube-version=*)
		kube_versions="$kube_versions ${1#*=}"
		shift
		;;
	--)
		shift
		break
		;;
	-*) usage_error "unknown option: $1" ;;
	*) break ;;
	esac
done
[ "$#" -ge 1 ] || usage_error 'no bundle given'
[ -n "$kube_versions" ] || kube_versions=$KUBE_VERSIONS
for p in "$@"; do
	[ -e "$p" ] || usage_error "no such file or directory: $p"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/validate-deployment.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
passed=0
failed=0

pass() {
	passed=$((passed + 1))
	printf 'PASS  %s\n' "$1"
}
fail() { # WHAT [DETAILS FILE]
	failed=$((failed + 1))
	printf 'FAIL  %s\n' "$1"
	if [ "$#" -ge 2 ] && [ -s "$2" ]; then
		sed 's/^/      | /' "$2" | head -n 40
	fi
}
have() { command -v "$1" >/dev/null 2>&1; }
need() { # TOOL WHAT
	if have "$1"; then
		return 0
	fi
	fail "$2: validator '$1' is not installed (see scripts/install-validators.sh)"
	return 1
}
# A fresh scratch directory under $WORK.
scratch() {
	mktemp -d "$WORK/check.XXXXXX"
}
# The only directory inside DIR (bundle tarballs hold one top-level directory).
single_dir() {
	set -- "$1"/*/
	if [ "$#" -eq 1 ] && [ -d "$1" ]; then
		printf '%s\n' "${1%/}"
	fi
}

check_compose() { # DIR LABEL
	need_compose=
	if have docker-compose; then
		need_compose=docker-compose
	elif have docker && docker compose version >/dev/null 2>&1; then
		need_compose='docker compose'
	else
		fail "compose $2: validator 'docker-compose' (or the docker compose plugin) is not installed"
		return 0
	fi
	out=$(scratch)
	# shellcheck disable=SC2086 # "docker compose" is two words on purpose
	if (cd "$1" && unset COMPOSE_PROJECT_NAME && $need_compose -f compose.yaml config -q) \
		>"$out/stdout" 2>"$out/stderr" && [ ! -s "$out/stderr" ]; then
		pass "compose $2: $need_compose config -q"
	else
		cat "$out/stdout" >>"$out/stderr"
		fail "compose $2: $need_compose config -q" "$out/stderr"
	fi
}

kube_validate() { # FILE LABEL
	need kubernetes-validate "$2: kubernetes-validate" || return 0
	for v in $kube_versions; do
		out=$(scratch)
		if kubernetes-validate --strict -k "$v" - <"$1" >"$out/stdout" 2>"$out/stderr" &&
			[ ! -s "$out/stderr" ] && ! grep -q WARN "$out/stdout"; then
			pass "$2: kubernetes-validate --strict -k $v"
		else
			grep -v 'passed for resource' "$out/stdout" >>"$out/stderr" || :
			fail "$2: kubernetes-validate --strict -k $v" "$out/stderr"
		fi
	done
}

check_chart() { # CHART(.tgz or dir) VALUES-or-empty LABEL
	need helm "helm $3" || return 0
	set -- "$1" "$2" "$3" "$(scratch)"
	if [ -n "$2" ]; then
		set -- "$@" -f "$2"
	fi
	chart=$1
	label=$3
	out=$4
	shift 4
	if helm lint --strict "$chart" "$@" >"$out/lint" 2>&1; then
		pass "helm $label: helm lint --strict"
	else
		fail "helm $label: helm lint --strict" "$out/lint"
	fi
	if helm template release "$chart" --namespace validate "$@" >"$out/rendered.yaml" 2>"$out/stderr" &&
		[ ! -s "$out/stderr" ]; then
		pass "helm $label: helm template"
		kube_validate "$out/rendered.yaml" "helm $label"
	else
		fail "helm $label: helm template" "$out/stderr"
	fi
}

check_kustomize() { # DIR (holding kustomization.yaml) LABEL
	need kubectl "kustomize $2: kubectl kustomize" || return 0
	out=$(scratch)
	if kubectl kustomize "$1" >"$out/rendered.yaml" 2>"$out/stderr" && [ ! -s "$out/stderr" ]; then
		pass "kustomize $2: kubectl kustomize"
		kube_validate "$out/rendered.yaml" "kustomize $2"
	else
		fail "kustomize $2: kubectl kustomize" "$out/stderr"
	fi
}

check_kustomize_tree() { # DIR LABEL
	found=0
	for k in "$1"/overlays/*/kustomization.yaml "$1"/base/kustomization.yaml "$1"/kustomization.yaml; do
		[ -f "$k" ] || continue
		found=1
		d=${k%/kustomization.yaml}
		check_kustomize "$d" "$2/${d#"$1"/}"
	done
	[ "$found" = 1 ] || fail "kustomize $2: no kustomization.yaml found"
}

check_shell() { # LABEL FILE...
	label=$1
	shift
	[ "$#" -gt 0 ] || return 0
	need shellcheck "shellcheck $label" || return 0
	out=$(scratch)
	if shellcheck -s sh "$@" >"$out/stdout" 2>&1; then
		names=
		for f in "$@"; do names="$names${names:+ }${f##*/}"; done
		pass "shellcheck $label: $names"
	else
		fail "shellcheck $label" "$out/stdout"
	fi
}

# Every file of DIR whose first line is a POSIX sh shebang.
sh_scripts() {
	for f in "$1"/* "$1"/.[!.]*; do
		[ -f "$f" ] || continue
		case $(head -n 1 "$f" 2>/dev/null || :) in
		'#!/bin/sh'*) printf '%s\n' "$f" ;;
		esac
	done
}

check_systemd() { # DIR LABEL
	unit_found=0
	for u in "$1"/*.service; do
		[ -f "$u" ] || continue
		unit_found=1
		need systemd-analyze "systemd $2: systemd-analyze security" || continue
		out=$(scratch)
		if systemd-analyze security --offline=yes --threshold=20 --no-pager "$u" >"$out/stdout" 2>"$out/stderr"; then
			level=$(grep 'Overall exposure level' "$out/stdout" | sed 's/.*: *//')
			pass "systemd $2: systemd-analyze security ${u##*/}: $level (threshold 2.0)"
		else
			grep 'Overall exposure level' "$out/stdout" >>"$out/stderr" || :
			fail "systemd $2: systemd-analyze security ${u##*/} (threshold 2.0)" "$out/stderr"
		fi
	done
	[ "$unit_found" = 1 ] || fail "systemd $2: no .service unit found"
	# shellcheck disable=SC2046 # file names come from the bundle and hold no spaces
	check_shell "systemd $2" $(sh_scripts "$1")
}

# An unpacked bundle directory: decide by what it holds.
check_dir() { # DIR LABEL
	kind=0
	if [ -f "$1/compose.yaml" ]; then
		check_compose "$1" "$2"
		kind=1
	fi
	if [ -f "$1/Chart.yaml" ]; then
		values=
		set -- "$1" "$2" "$1"/../values-*.yaml
		[ -f "$3" ] && values=$3
		check_chart "$1" "$values" "$2"
		kind=1
	fi
	if [ -f "$1/install.sh" ] || ls "$1"/*.service >/dev/null 2>&1; then
		check_systemd "$1" "$2"
		kind=1
	fi
	if [ -d "$1/overlays" ] || [ -f "$1/kustomization.yaml" ]; then
		check_kustomize_tree "$1" "$2"
		kind=1
	fi
	return "$((1 - kind))"
}

check_tarball() { # FILE
	name=${1##*/}
	d=$(scratch)
	if ! tar -xzf "$1" -C "$d" 2>"$d.err"; then
		fail "$name: cannot unpack" "$d.err"
		return 0
	fi
	top=$(single_dir "$d")
	[ -n "$top" ] || top=$d
	check_dir "$top" "${name%.tar.gz}" || fail "$name: holds no compose.yaml, systemd unit or kustomization.yaml"
}

check_chart_tgz() { # FILE
	name=${1##*/}
	values=
	dir=$(dirname -- "$1")
	for v in "$dir"/values-*.yaml; do
		if [ -f "$v" ]; then
			values=$v
			break
		fi
	done
	check_chart "$1" "$values" "${name%.tgz}${values:+ with ${values##*/}}"
}

check_bundle_dir() { # DIR (bundles/<profile>/)
	any=0
	if [ -f "$1/SHA256SUMS" ]; then
		any=1
		if have sha256sum; then
			out=$(scratch)
			if (cd "$1" && sha256sum --strict -c SHA256SUMS) >"$out/stdout" 2>&1; then
				pass "sha256sums ${1%/}: every file matches SHA256SUMS"
			else
				grep -v ': OK$' "$out/stdout" >"$out/bad" || :
				fail "sha256sums ${1%/}: files differ from SHA256SUMS" "$out/bad"
			fi
		else
			fail "sha256sums ${1%/}: validator 'sha256sum' is not installed"
		fi
	fi
	for f in "$1"/*.tar.gz; do
		[ -f "$f" ] || continue
		any=1
		check_tarball "$f"
	done
	for f in "$1"/*.tgz; do
		[ -f "$f" ] || continue
		any=1
		check_chart_tgz "$f"
	done
	for d in "$1"/*/; do
		d=${d%/}
		[ -d "$d" ] || continue
		if [ -d "$d/overlays" ] || [ -f "$d/kustomization.yaml" ]; then
			any=1
			check_kustomize_tree "$d" "${d##*/}"
		fi
	done
	if [ "$any" = 0 ]; then
		check_dir "$1" "${1%/}" || fail "${1%/}: no bundle found (expected bundles/<profile>/ or an unpacked bundle)"
	fi
}

for p in "$@"; do
	case $p in
	*.tar.gz) check_tarball "$p" ;;
	*.tgz) check_chart_tgz "$p" ;;
	*)
		if [ -d "$p" ]; then
			check_bundle_dir "$p"
		else
			fail "$p: not a bundle (.tar.gz, .tgz or a directory)"
		fi
		;;
	esac
done

printf '\n%s passed, %s failed\n' "$passed" "$failed"
if [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ]; then
	exit 1
fi
exit 0
