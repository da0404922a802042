#!/bin/sh
# backup-config.sh: back up (and restore) a Lucia deployment's configuration, credentials and
# data into one archive named lucia-backup-<target>-<UTC time>.tar.gz. Modes are kept, so
# credentials stay 0600. Works from infra/scripts/ and when copied next to an unpacked bundle.
# POSIX sh.
#
# Exit codes: 0 done; 1 a step failed; 2 usage error; 3 a required tool is missing.
set -eu

PROG=${0##*/}

usage() {
	cat <<EOF
Usage: $PROG --target compose|kubernetes|systemd [OPTIONS]
       $PROG --restore ARCHIVE [OPTIONS]
Back up a Lucia deployment into --out DIR/lucia-backup-<target>-<UTC time>.tar.gz (mode 0600),
or put a backup back.

What is saved:
  systemd     /etc/lucia (lucia.env, credentials/ 0700 with 0600 files), /var/lib/lucia (HOME with
              the DataProtection keys, models/, plugins/), the install drop-in
              /usr/local/lib/systemd/system/lucia.service.d/, and a mongodump of the store
  compose     .env and secrets/ next to compose.yaml, a mongodump of the store, and the
              agenthost volumes /app/models and /app/plugins, and the redis volume /data (tar streams)
  kubernetes  the Helm release's values (helm get values), the Secret, a mongodump of the
              store, and /app/plugins of the agenthost pod (kubectl cp)
Redis is a cache and is not saved.

Options:
  --target T        compose, kubernetes or systemd (required for a backup; a restore reads it
                    from the archive)
  --out DIR         where the archive is written (default: \$HOME, so that no backup lands
                    in a repository or a bundle directory by accident)
  --restore ARCHIVE put ARCHIVE back (stop Lucia first; see below)
  --root DIR        systemd: treat DIR as / (a copy of a host tree; default /)
  --dir DIR         compose: the unpacked bundle holding compose.yaml (default: this script's
                    directory if it holds compose.yaml, else the current directory)
  --namespace NS    kubernetes: namespace (default lucia)
  --release NAME    kubernetes: Helm release / object prefix (default lucia)
  --secret NAME     kubernetes: the Secret (default: the release's secrets.existingSecret,
                    else <release>-secrets)
  --no-data         configuration and credentials only: no database dump, no volumes
  -h, --help        show this help

Restore: systemd: systemctl stop lucia, restore, systemctl start lucia. compose: docker compose
stop agenthost, restore, docker compose start agenthost. kubernetes: restore, then
kubectl rollout restart deployment/<release>-agenthost.

Exit status: 0 done, 1 a step failed, 2 usage error, 3 a required tool is missing.
EOF
}

usage_error() {
	printf '%s: %s (see --help)\n' "$PROG" "$1" >&2
	exit 2
}
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}
missing() {
	printf '%s: %s is not installed\n' "$PROG" "$1" >&2
	exit 3
}
say() { printf '%s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

TARGET=
OUT=${HOME:-.}
RESTORE=
ROOT=
DIR=
NAMESPACE=lucia
RELEASE=lucia
SECRET=
NO_DATA=0
while [ "$#" -gt 0 ]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--no-data)
		NO_DATA=1
		shift
		;;
	--target | --out | --restore | --root | --dir | --namespace | --release | --secret)
		[ "$#" -ge 2 ] || usage_error "$1 needs a value"
		[ -n "$2" ] || usage_error "$1 needs a value"
		case $1 in
		--target) TARGET=$2 ;;
		--out) OUT=$2 ;;
		--restore) RESTORE=$2 ;;
		--root) ROOT=$2 ;;
		--dir) DIR=$2 ;;
		--namespace) NAMESPACE=$2 ;;
		--release) RELEASE=$2 ;;
		*) SECRET=$2 ;;
		esac
		shift 2
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
done
if [ -n "$RESTORE" ]; then
	[ -f "$RESTORE" ] || usage_error "no such archive: $RESTORE"
else
	case $TARGET in
	compose | kubernetes | systemd) ;;
	'') usage_error '--target is required (or --restore ARCHIVE)' ;;
	*) usage_error "unknown target: $TARGET (compose, kubernetes or systemd)" ;;
	esac
	[ -d "$OUT" ] || usage_error "--out $OUT is not a directory"
fi
if [ -n "$ROOT" ]; then
	[ -d "$ROOT" ] || usage_error "--root $ROOT is not a directory"
	ROOT=$(CDPATH='' cd -- "$ROOT" && pwd)
	[ "$ROOT" != / ] || ROOT=
fi
have tar || missing tar
have gzip || missing gzip

# Everything secret is created private.
umask 077
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lucia-backup.XXXXXX")
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# The archive's layout: manifest, files/ (paths relative to the target's root), data/.
STAGE=$WORK/lucia-backup
mkdir -p "$STAGE/files" "$STAGE/data"

compose_dir() {
	if [ -z "$DIR" ]; then
		here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
		if [ -f "$here/compose.yaml" ]; then DIR=$here; else DIR=.; fi
	fi
	[ -f "$DIR/compose.yaml" ] || usage_error "no compose.yaml in $DIR (use --dir)"
	DIR=$(CDPATH='' cd -- "$DIR" && pwd)
}
dc() { docker compose --project-directory "$DIR" -f "$DIR/compose.yaml" "$@"; }
kc() { kubectl --namespace "$NAMESPACE" "$@"; }

# copy_tree FROM_ROOT REL...: copy the paths that exist, keeping modes (and owners as root).
copy_tree() {
	from=$1
	shift
	for rel in "$@"; do
		if [ -e "$from/$rel" ]; then
			(cd "$from" && tar -cf - "$rel") | (cd "$STAGE/files" && tar -xpf -)
			printf 'path=%s\n' "$rel" >>"$WORK/paths"
			say "saved  $rel"
		else
			say "absent $rel (skipped)"
		fi
	done
}

# ---- backup -----------------------------------------------------------------------------------
backup_systemd() {
	copy_tree "${ROOT:-/}" etc/lucia var/lib/lucia usr/local/lib/systemd/system/lucia.service.d
	[ "$NO_DATA" = 0 ] || return 0
	if [ -n "$ROOT" ]; then
		say 'skip   database dump (--root: not the running host)'
	elif have mongodump; then
		mongodump --quiet --uri mongodb://127.0.0.1:27017 --archive="$STAGE/data/mongo.archive" ||
			die 'mongodump failed (is mongod running?)'
		say 'saved  MongoDB (mongodump of luciatraces, luciaconfig, luciatasks)'
	else
		say 'skip   database dump: mongodump is not installed (package mongodb-database-tools)'
	fi
}

backup_compose() {
	compose_dir
	copy_tree "$DIR" .env secrets
	[ "$NO_DATA" = 0 ] || return 0
	have docker || missing docker
	dc exec -T mongo mongodump --quiet --archive >"$STAGE/data/mongo.archive" ||
		die 'docker compose exec mongo mongodump failed (is the stack up?)'
	say 'saved  MongoDB (mongodump)'
	# Redis's append-only files, fsynced first, so that the cache comes back as it was.
	dc exec -T redis redis-cli BGREWRITEAOF >/dev/null 2>&1 || :
	dc exec -T redis sh -c 'while redis-cli INFO persistence | grep -q "aof_rewrite_in_progress:1"; do sleep 0.2; done' ||
		die 'docker compose exec redis failed (is the stack up?)'
	# Volumes travel as tar streams through the service itself: files keep their owner, and
	# `docker cp -a` cannot resolve a numeric user that the image's passwd lacks.
	dc exec -T redis tar -cf - -C /data . >"$STAGE/data/redis.tar" || die 'docker compose exec redis tar failed'
	say 'saved  volume redis /data'
	for p in models plugins; do
		mkdir -p "$STAGE/data/agenthost"
		dc exec -T agenthost tar -cf - -C "/app/$p" . >"$STAGE/data/agenthost/$p.tar" ||
			die "docker compose exec agenthost tar /app/$p failed"
		say "saved  volume agenthost /app/$p"
	done
}

backup_kubernetes() {
	have kubectl || missing kubectl
	mkdir -p "$STAGE/files/kubernetes"
	if have helm && helm --namespace "$NAMESPACE" get values "$RELEASE" -o yaml >"$STAGE/files/kubernetes/values.yaml" 2>/dev/null; then
		say "saved  helm values of release $RELEASE"
		if [ -z "$SECRET" ]; then
			SECRET=$(sed -n "s/^  existingSecret: *['\"]*\([^'\"]*\).*/\1/p" "$STAGE/files/kubernetes/values.yaml" | head -n 1)
		fi
	else
		rm -f "$STAGE/files/kubernetes/values.yaml"
		say "skip   helm values (no helm release $RELEASE: a Kustomize install keeps its config in Git)"
	fi
	[ -n "$SECRET" ] || SECRET=$RELEASE-secrets
	kc get secret "$SECRET" -o json >"$WORK/secret.json" || die "cannot read Secret $SECRET (use --secret)"
	# Drop the fields the API server owns, so the file can be applied again.
	sed '/"resourceVersion":/d; /"uid":/d; /"creationTimestamp":/d' "$WORK/secret.json" >"$STAGE/files/kubernetes/secret.json"
	say "saved  Secret $SECRET"
	[ "$NO_DATA" = 0 ] || return 0
	kc exec "deploy/$RELEASE-mongo" -- mongodump --quiet --archive >"$STAGE/data/mongo.archive" ||
		die "kubectl exec deploy/$RELEASE-mongo -- mongodump failed"
	say 'saved  MongoDB (mongodump)'
	pod=$(kc get pods -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=agenthost" -o 'jsonpath={.items[0].metadata.name}')
	mkdir -p "$STAGE/data/agenthost"
	if kc cp "$pod:/app/plugins" "$STAGE/data/agenthost/plugins" >/dev/null 2>&1; then
		say 'saved  agenthost /app/plugins'
	else
		say 'skip   agenthost /app/plugins (kubectl cp needs tar in the image)'
	fi
}

do_backup() {
	case $TARGET in
	systemd) backup_systemd ;;
	compose) backup_compose ;;
	kubernetes) backup_kubernetes ;;
	esac
	stamp=$(date -u +%Y%m%dT%H%M%SZ)
	{
		printf 'format=1\n'
		printf 'target=%s\n' "$TARGET"
		printf 'created=%s\n' "$stamp"
		if [ -f "$WORK/paths" ]; then cat "$WORK/paths"; fi
	} >"$STAGE/manifest"
	archive=$OUT/lucia-backup-$TARGET-$stamp.tar.gz
	[ ! -e "$archive" ] || die "$archive exists"
	(cd "$WORK" && tar -cf - lucia-backup) | gzip -n >"$archive.part"
	chmod 600 "$archive.part"
	mv "$archive.part" "$archive"
	say "wrote  $archive (mode 0600: it holds credentials)"
}

# ---- restore ----------------------------------------------------------------------------------
# restore_tree TO_ROOT: put back the paths the manifest lists, keeping their modes. Only those
# paths and what is below them are written: the modes of their parents (/etc, /var/lib) are
# never touched, and parents that do not exist are created 0755.
restore_tree() {
	sed -n 's/^path=//p' "$STAGE/manifest" >"$WORK/restore-paths"
	while IFS= read -r rel; do
		case $rel in
		'' | /* | .. | ../* | */../* | */..) die "unsafe path in the manifest: $rel" ;;
		esac
		[ -e "$STAGE/files/$rel" ] || die "the archive lacks $rel"
		(cd "$STAGE/files" && tar -cf - "$rel") | (umask 022 && cd "$1" && tar -xpf -)
		say "restored $rel"
	done <"$WORK/restore-paths"
}

restore_systemd() {
	if [ -z "$ROOT" ] && have systemctl && systemctl is-active --quiet lucia.service 2>/dev/null; then
		die 'lucia.service is running: systemctl stop lucia first'
	fi
	restore_tree "${ROOT:-/}"
	if [ -f "$STAGE/data/mongo.archive" ] && [ "$NO_DATA" = 0 ]; then
		if [ -n "$ROOT" ]; then
			say 'skip   database restore (--root)'
		else
			have mongorestore || missing mongorestore
			mongorestore --quiet --uri mongodb://127.0.0.1:27017 --drop --archive="$STAGE/data/mongo.archive"
			say 'restored MongoDB'
		fi
	fi
	[ -n "$ROOT" ] || say 'next: systemctl start lucia'
}

restore_compose() {
	compose_dir
	restore_tree "$DIR"
	[ "$NO_DATA" = 0 ] || return 0
	have docker || missing docker
	if [ -f "$STAGE/data/mongo.archive" ]; then
		dc exec -T mongo mongorestore --quiet --drop --archive <"$STAGE/data/mongo.archive"
		say 'restored MongoDB'
	fi
	# A volume is put back by a one-off container of its service (as the service's user), with
	# the service itself stopped: Redis rewrites its files on shutdown.
	if [ -f "$STAGE/data/redis.tar" ]; then
		dc stop redis >/dev/null 2>&1
		dc run --rm --no-deps -T --entrypoint sh redis -c 'find /data -mindepth 1 -delete && tar -xf - -C /data' \
			<"$STAGE/data/redis.tar" || die 'restoring the redis volume failed'
		dc start redis >/dev/null 2>&1
		say 'restored volume redis /data'
	fi
	for p in models plugins; do
		[ -f "$STAGE/data/agenthost/$p.tar" ] || continue
		dc run --rm --no-deps -T --entrypoint tar agenthost -xf - -C "/app/$p" <"$STAGE/data/agenthost/$p.tar" ||
			die "restoring the agenthost volume /app/$p failed"
		say "restored volume agenthost /app/$p"
	done
	say 'next: docker compose start agenthost (or docker compose up -d)'
}

restore_kubernetes() {
	have kubectl || missing kubectl
	if [ -f "$STAGE/files/kubernetes/secret.json" ]; then
		kc apply -f "$STAGE/files/kubernetes/secret.json"
	fi
	if [ -f "$STAGE/files/kubernetes/values.yaml" ]; then
		say "helm values saved in the archive: lucia-backup/files/kubernetes/values.yaml (use helm upgrade -f)"
	fi
	[ "$NO_DATA" = 0 ] || return 0
	if [ -f "$STAGE/data/mongo.archive" ]; then
		kc exec -i "deploy/$RELEASE-mongo" -- mongorestore --quiet --drop --archive <"$STAGE/data/mongo.archive"
		say 'restored MongoDB'
	fi
	if [ -d "$STAGE/data/agenthost/plugins" ]; then
		pod=$(kc get pods -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=agenthost" -o 'jsonpath={.items[0].metadata.name}')
		kc cp "$STAGE/data/agenthost/plugins/." "$pod:/app/plugins"
		say 'restored agenthost /app/plugins'
	fi
	say "next: kubectl --namespace $NAMESPACE rollout restart deployment/$RELEASE-agenthost"
}

do_restore() {
	rm -rf "$STAGE"
	gzip -dc <"$RESTORE" | (cd "$WORK" && tar -xpf -) || die "cannot unpack $RESTORE"
	[ -f "$STAGE/manifest" ] || die "$RESTORE is not a backup made by $PROG (no lucia-backup/manifest)"
	mkdir -p "$STAGE/files" "$STAGE/data"
	archived=$(sed -n 's/^target=//p' "$STAGE/manifest")
	if [ -n "$TARGET" ] && [ "$TARGET" != "$archived" ]; then
		usage_error "the archive is a $archived backup, not $TARGET"
	fi
	TARGET=$archived
	say "restoring a $TARGET backup made $(sed -n 's/^created=//p' "$STAGE/manifest")"
	case $TARGET in
	systemd) restore_systemd ;;
	compose) restore_compose ;;
	kubernetes) restore_kubernetes ;;
	*) die "unknown target in the archive: $TARGET" ;;
	esac
}

if [ -n "$RESTORE" ]; then
	do_restore
else
	do_backup
fi
