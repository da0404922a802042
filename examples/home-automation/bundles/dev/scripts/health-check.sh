#!/bin/sh
# health-check.sh: is a Lucia deployment healthy? Asks the app's own health endpoints from the
# host (/alive: the process is up; /health: every check, Redis and the store included) and the
# dependencies directly (redis-cli ping, mongosh ping). Works from infra/scripts/ and when
# copied next to an unpacked bundle. POSIX sh.
#
# Exit codes: 0 healthy; 1 unhealthy; 2 usage error; 3 cannot check (a required tool is missing,
# or kubectl port-forward failed).
set -eu

PROG=${0##*/}

usage() {
	cat <<EOF
Usage: $PROG --target compose|kubernetes|systemd [OPTIONS]
Check Lucia's /alive and /health endpoints from this host, then Redis and MongoDB.

  --target T       compose, kubernetes (Helm or Kustomize) or systemd (required)
  --url URL        Lucia's base URL (default: compose http://127.0.0.1:\$HTTP_PORT from
                   the bundle's .env, else 7233; systemd http://127.0.0.1:7233, or the port of
                   ASPNETCORE_URLS of lucia.service and /etc/lucia/lucia.env; kubernetes: a temporary
                   kubectl port-forward to the agenthost Service)
  --dir DIR        compose: the unpacked bundle (holds compose.yaml; default: this script's
                   directory if it holds compose.yaml, else the current directory)
  --namespace NS   kubernetes: namespace (default lucia)
  --release NAME   kubernetes: Helm release or object prefix (default lucia)
  --redis HOST:PORT, --mongo URI
                   systemd: where the host services listen
                   (default 127.0.0.1:6379 and mongodb://127.0.0.1:27017)
  --skip-deps      only the HTTP endpoints (/health already includes Redis and the store)
  --timeout S      seconds per request (default 5)
  -h, --help       show this help

Exit status: 0 healthy, 1 unhealthy, 2 usage error, 3 cannot check (missing tool).
EOF
}

usage_error() {
	printf '%s: %s (see --help)\n' "$PROG" "$1" >&2
	exit 2
}

TARGET=
URL=
DIR=
NAMESPACE=lucia
RELEASE=lucia
REDIS=127.0.0.1:6379
MONGO=mongodb://127.0.0.1:27017
SKIP_DEPS=0
TIMEOUT=5
while [ "$#" -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--skip-deps)
		SKIP_DEPS=1
		shift
		;;
	--target | --url | --dir | --namespace | --release | --redis | --mongo | --timeout)
		[ "$#" -ge 2 ] || usage_error "$1 needs a value"
		case $1 in
		--target) TARGET=$2 ;;
		--url) URL=$2 ;;
		--dir) DIR=$2 ;;
		--namespace) NAMESPACE=$2 ;;
		--release) RELEASE=$2 ;;
		--redis) REDIS=$2 ;;
		--mongo) MONGO=$2 ;;
		*) TIMEOUT=$2 ;;
		esac
		shift 2
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done
case $TARGET in
compose | kubernetes | systemd) ;;
'') usage_error '--target is required' ;;
*) usage_error "unknown target: $TARGET (compose, kubernetes or systemd)" ;;
esac
case $TIMEOUT in
'' | *[!0-9]*) usage_error "--timeout must be a whole number of seconds" ;;
esac
case $URL in
'' | http://* | https://*) ;;
*) usage_error "--url must start with http:// or https://" ;;
esac
URL=${URL%/}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/health-check.XXXXXX")
PF_PID=
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
	if [ -n "$PF_PID" ]; then
		kill "$PF_PID" 2>/dev/null || :
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

unhealthy=0
ok() { printf 'OK    %s\n' "$*"; }
bad() {
	unhealthy=1
	printf 'FAIL  %s\n' "$*"
}
note() { printf '      %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
cannot() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 3
}

# http_get URL: sets $status (HTTP status, 000 when there was no answer) and writes the body to
# $WORK/body.
http_get() {
	: >"$WORK/body"
	if have curl; then
		status=$(curl -sS -o "$WORK/body" -w '%{http_code}' --max-time "$TIMEOUT" "$1" 2>"$WORK/err") || :
		[ -n "$status" ] || status=000
	elif have wget; then
		wget -S -q -T "$TIMEOUT" -t 1 -O "$WORK/body" "$1" 2>"$WORK/err" || :
		status=$(awk '$1 ~ /^HTTP\// { s = $2 } END { print s }' "$WORK/err")
		[ -n "$status" ] || status=000
	else
		cannot 'neither curl nor wget is installed'
	fi
}

# check_endpoint PATH WHAT
check_endpoint() {
	http_get "$URL$1"
	body=$(dd bs=200 count=1 <"$WORK/body" 2>/dev/null | tr -d '\r' | head -n 1)
	case $status in
	200)
		case $body in
		*'<!DOCTYPE'* | *'<!doctype'* | *'<html'*)
			bad "$1 ($2): HTTP 200 but an HTML page: the dashboard's fallback, not a health endpoint"
			note "is $URL really Lucia's HTTP port, and the Lucia version one with $1?"
			;;
		*Unhealthy*) bad "$1 ($2): HTTP 200 but '$body'" ;;
		*Degraded*) ok "$1 ($2): HTTP 200 $body (degraded: a check reports a problem; see the app's log)" ;;
		*) ok "$1 ($2): HTTP 200${body:+ $body}" ;;
		esac
		;;
	000)
		bad "$1 ($2): no answer from $URL$1"
		[ -s "$WORK/err" ] && note "$(head -n 1 "$WORK/err")"
		;;
	*)
		bad "$1 ($2): HTTP $status${body:+ $body}"
		if [ "$1" = /health ]; then
			note 'a dependency check failed: Redis, MongoDB, or a setting read at start (see the app log)'
		fi
		;;
	esac
}

# dep_check WHAT EXPECTED COMMAND...: the command's output must contain EXPECTED.
dep_check() {
	what=$1
	expected=$2
	shift 2
	if "$@" >"$WORK/dep" 2>&1 && grep -q "$expected" "$WORK/dep"; then
		ok "$what: $(tr -d '\r' <"$WORK/dep" | head -n 1)"
	else
		bad "$what: $(tr -d '\r' <"$WORK/dep" | head -n 1)"
		note "command: $*"
	fi
}

MONGO_EVAL="db.adminCommand('ping').ok"

# ---- compose ----------------------------------------------------------------------------------
compose_setup() {
	if [ -z "$DIR" ]; then
		here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
		if [ -f "$here/compose.yaml" ]; then DIR=$here; else DIR=.; fi
	fi
	[ -f "$DIR/compose.yaml" ] || usage_error "no compose.yaml in $DIR (use --dir)"
	if [ -z "$URL" ]; then
		port=
		if [ -f "$DIR/.env" ]; then
			port=$(sed -n 's/^HTTP_PORT=["'\'']*\([0-9]*\).*/\1/p' "$DIR/.env" | tail -n 1)
		fi
		URL=http://127.0.0.1:${port:-7233}
	fi
}
compose_deps() {
	have docker || cannot 'docker is not installed'
	dep_check 'redis (docker compose exec redis redis-cli ping)' PONG \
		docker compose --project-directory "$DIR" -f "$DIR/compose.yaml" exec -T redis redis-cli ping
	dep_check 'mongo (docker compose exec mongo mongosh ping)' '^1' \
		docker compose --project-directory "$DIR" -f "$DIR/compose.yaml" exec -T mongo mongosh --quiet --norc --eval "$MONGO_EVAL"
}

# ---- kubernetes -------------------------------------------------------------------------------
kube_setup() {
	have kubectl || cannot 'kubectl is not installed'
	[ -z "$URL" ] || return 0
	svc=$RELEASE-agenthost
	port=$(kubectl --namespace "$NAMESPACE" get service "$svc" -o 'jsonpath={.spec.ports[?(@.name=="http")].port}' 2>"$WORK/err") || {
		bad "service $svc in namespace $NAMESPACE: $(head -n 1 "$WORK/err")"
		return 0
	}
	# A free local port: the service port plus 10000 is good enough for a one-shot check.
	local_port=$((port % 50000 + 10000))
	kubectl --namespace "$NAMESPACE" port-forward "service/$svc" "$local_port:$port" >"$WORK/pf" 2>&1 &
	PF_PID=$!
	i=0
	while [ "$i" -lt 15 ]; do
		grep -q 'Forwarding from' "$WORK/pf" && break
		kill -0 "$PF_PID" 2>/dev/null || break
		sleep 1
		i=$((i + 1))
	done
	grep -q 'Forwarding from' "$WORK/pf" || cannot "kubectl port-forward service/$svc failed: $(head -n 1 "$WORK/pf")"
	URL=http://127.0.0.1:$local_port
	note "through kubectl port-forward service/$svc $local_port:$port"
}
kube_deps() {
	dep_check "redis (kubectl exec deploy/$RELEASE-redis -- redis-cli ping)" PONG \
		kubectl --namespace "$NAMESPACE" exec "deploy/$RELEASE-redis" -- redis-cli ping
	dep_check "mongo (kubectl exec deploy/$RELEASE-mongo -- mongosh ping)" '^1' \
		kubectl --namespace "$NAMESPACE" exec "deploy/$RELEASE-mongo" -- mongosh --quiet --norc --eval "$MONGO_EVAL"
}

# ---- systemd ----------------------------------------------------------------------------------
systemd_setup() {
	[ -z "$URL" ] || return 0
	port=
	# The environment the running unit really has (its defaults and /etc/lucia/lucia.env); a
	# profile may publish another port than 7233.
	if have systemctl && [ -d /run/systemd/system ]; then
		port=$(systemctl show -p Environment --value lucia.service 2>/dev/null | tr ' ' '\n' |
			sed -n 's/^ASPNETCORE_URLS=[a-z]*:\/\/[^:]*:\([0-9]*\).*/\1/p' | tail -n 1)
	fi
	if [ -r /etc/lucia/lucia.env ]; then
		set_port=$(sed -n 's/^ASPNETCORE_URLS="*[a-z]*:\/\/[^:]*:\([0-9]*\).*/\1/p' /etc/lucia/lucia.env | tail -n 1)
		port=${set_port:-$port}
	fi
	URL=http://127.0.0.1:${port:-7233}
}
systemd_deps() {
	if have systemctl && [ -d /run/systemd/system ] && systemctl cat lucia.service >/dev/null 2>&1; then
		if systemctl is-active --quiet lucia.service; then
			ok 'lucia.service: active'
		else
			bad "lucia.service: $(systemctl is-active lucia.service 2>&1 || :) (journalctl -u lucia -n 50)"
		fi
	fi
	host=${REDIS%:*}
	port=${REDIS##*:}
	if have redis-cli; then
		dep_check "redis ($REDIS, redis-cli ping)" PONG redis-cli -h "$host" -p "$port" ping
	else
		note "redis: redis-cli is not installed; skipped (/health covers Redis)"
	fi
	if have mongosh; then
		dep_check "mongo ($MONGO, mongosh ping)" '^1' mongosh "$MONGO" --quiet --norc --eval "$MONGO_EVAL"
	else
		note "mongo: mongosh is not installed; skipped (/health covers MongoDB)"
	fi
}

printf 'Lucia health (%s)\n' "$TARGET"
case $TARGET in
compose) compose_setup ;;
kubernetes) kube_setup ;;
systemd) systemd_setup ;;
esac
if [ -n "$URL" ]; then
	note "URL: $URL"
	check_endpoint /alive liveness
	check_endpoint /health readiness
fi
if [ "$SKIP_DEPS" = 0 ]; then
	case $TARGET in
	compose) compose_deps ;;
	kubernetes) kube_deps ;;
	systemd) systemd_deps ;;
	esac
fi

if [ "$unhealthy" = 0 ]; then
	printf 'HEALTHY\n'
	exit 0
fi
printf 'UNHEALTHY (see docs: infra/docs/troubleshooting.md)\n'
exit 1
