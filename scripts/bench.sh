#!/usr/bin/env bash
# The side-by-side benchmark of BENCHMARKS.md: luciac against `helm template` of the chart it
# emits, in one hyperfine run, and luciac on generated declarations of 10, 100 and 1000
# services (growth with N), with each case's peak memory (maximum resident set, GNU time).
#
#   scripts/bench.sh                      # prints the Markdown table BENCHMARKS.md shows
#   BASELINE=/path/to/old/luciac scripts/bench.sh   # adds an older build to every run
#   RUNS=50 scripts/bench.sh              # more runs (default 30; 10 for 1000 services)
#
# Needs: cargo, hyperfine (installed from Debian with apt-get when missing; root or sudo),
# helm (scripts/install-validators.sh puts it in ~/.cache/luciac-validators/bin), GNU time.
# Everything runs in a temporary copy of the declaration: the repository's bundles/ are not
# touched. Every luciac run after the first rewrites nothing (each file is compared and left
# as it is), as in a CI drift check or a rebuild with no change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
export PATH="$HOME/.cache/luciac-validators/bin:$PATH"
runs="${RUNS:-30}"

if ! command -v hyperfine >/dev/null 2>&1; then
    echo "bench.sh: installing hyperfine (Debian package)" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y hyperfine >&2
fi
for tool in helm /usr/bin/time; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench.sh: $tool is missing (helm: scripts/install-validators.sh; GNU time: apt-get install time)" >&2
        exit 1
    fi
done

cargo build --release --locked --quiet
luciac="${CARGO_TARGET_DIR:-$repo/target}/release/luciac"
baseline="${BASELINE:-}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A declaration with N services: each has a port of its own (8000 + N: the systemd target
# runs them all on one host), two env entries (one a secret), a reference
# to its neighbour's host and port (a chain of nine of every ten), an explicit dependency on
# the service ten before it (every tenth), an HTTP health check, a volume and resources, so
# the graph and reference resolution grow with N.
generate() {
    awk -v n="$1" 'BEGIN {
        print "app \"bench\" version=\"1.0.0\" { description \"generated\" }"
        print "image \"app\" \"docker.io/library/busybox:1.36\" digest=\"sha256:0000000000000000000000000000000000000000000000000000000000000000\""
        print "param \"log-level\" type=\"enum\" default=\"info\" { one-of \"debug\" \"info\"; description \"level\" }"
        print "secret \"token\" min-length=8 { description \"shared token\" }"
        for (i = 0; i < n; i++) {
            printf "service \"svc-%d\" {\n    image \"app\"\n    command \"app\" \"serve\"\n    port \"http\" %d", i, 8000 + i
            if (i % 10 == 0) printf " publish=%d", 20000 + i
            printf "\n    env \"LOG\" \"{param.log-level}\"\n    env \"TOKEN\" secret=\"token\"\n"
            if (i % 10 != 0) printf "    env \"UPSTREAM\" \"http://{svc-%d.host}:{svc-%d.port.http}\"\n", i - 1, i - 1
            if (i >= 10 && i % 10 == 0) printf "    depends-on \"svc-%d\"\n", i - 10
            print "    health liveness=\"/alive\" readiness=\"/health\" start-period=\"60s\""
            print "    volume \"data\" \"/data\" size=\"1Gi\""
            print "    resources cpu=\"100m\" memory=\"128Mi\" memory-limit=\"256Mi\""
            print "}"
        }
    }'
}

# Median and peak memory of one command in one case directory; hyperfine's CSV has the
# median in seconds in its fourth column.
median_ms() { awk -F, -v row="$2" 'NR == row + 1 { printf "%.1f", $4 * 1000 }' "$1"; }
rss_mib() {
    (cd "$1" && /usr/bin/time -f '%M' "${@:2}" 2>&1 >/dev/null | tail -n 1) |
        awk '{ printf "%.1f", $1 / 1024 }'
}

# The repository's declaration: `build --all` beside `helm template` of the prod chart.
mkdir -p "$work/repo"
cp -r lucia.kdl profiles "$work/repo/"
if [ -f lucia.lock ]; then cp lucia.lock "$work/repo/"; fi
(cd "$work/repo" && "$luciac" -q build --all)
chart="$(cd "$work/repo" && ls bundles/prod/lucia-*.tgz)"
helm_cmd="helm template lucia $chart -f bundles/prod/values-prod.yaml"
cmds=("$luciac -q build --all" "$helm_cmd")
if [ -n "$baseline" ]; then cmds+=("$baseline build --all"); fi
(cd "$work/repo" && hyperfine -N --warmup 3 --runs "$runs" --export-csv "$work/repo.csv" \
    --command-name "luciac build --all" --command-name "helm template" \
    ${baseline:+--command-name "baseline build --all"} "${cmds[@]}" >&2)

ours="$(median_ms "$work/repo.csv" 1)"
helm_ms="$(median_ms "$work/repo.csv" 2)"
echo
echo "| Case | luciac median | Peak memory | Compared with |"
echo "|---|---|---|---|"
line="| \`lucia.kdl\`, \`build --all\` (2 profiles, every target) | $ours ms | $(rss_mib "$work/repo" "$luciac" -q build --all) MiB | \`helm template\` of its prod chart: $helm_ms ms, $(awk -v a="$helm_ms" -v b="$ours" 'BEGIN { printf "%.1f", a / b }')x slower"
if [ -n "$baseline" ]; then
    line="$line; baseline: $(median_ms "$work/repo.csv" 3) ms"
fi
echo "$line |"

declare -A took
for n in 10 100 1000; do
    mkdir -p "$work/s$n"
    generate "$n" >"$work/s$n/lucia.kdl"
    (cd "$work/s$n" && "$luciac" -q build)
    r="$runs"
    if [ "$n" = 1000 ]; then r=10; fi
    cmds=("$luciac -q build")
    if [ -n "$baseline" ]; then cmds+=("$baseline build"); fi
    (cd "$work/s$n" && hyperfine -N --warmup 1 --runs "$r" --export-csv "$work/s$n.csv" "${cmds[@]}" >&2)
    t="$(median_ms "$work/s$n.csv" 1)"
    took[$n]="$t"
    line="| $n services, \`build\` | $t ms | $(rss_mib "$work/s$n" "$luciac" -q build) MiB |"
    if [ -n "$baseline" ]; then
        line="$line baseline: $(median_ms "$work/s$n.csv" 2) ms |"
    else
        line="$line |"
    fi
    echo "$line"
done
# Linear growth: the cost of one more service is the same from 10 to 100 as from 100 to 1000.
echo
awk -v a="${took[10]}" -v b="${took[100]}" -v c="${took[1000]}" 'BEGIN {
    printf "Per added service: %.3f ms from 10 to 100 services, %.3f ms from 100 to 1000 (1000/10: %.0fx the time for 100x the services).\n", (b - a) / 90, (c - b) / 900, c / a
}'
echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(uname -sr), $("$luciac" --version), $(helm version --short), hyperfine $(hyperfine --version | awk '{ print $2 }')."
