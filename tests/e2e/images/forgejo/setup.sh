# Forgejo STAND-IN (see standins/forgejo.py) with the rootless image's contract
# (codeberg.org/forgejo/forgejo:*-rootless): user git = UID/GID 1000 with HOME /var/lib/gitea/git;
# /var/lib/gitea and /etc/gitea owned by it; ENTRYPOINT dumb-init -- docker-entrypoint.sh, which
# runs its arguments or else `forgejo -c $GITEA_APP_INI web`; curl for health checks. psql
# (Debian's postgresql-client-15) is the stand-in's own database check.
in_root sh -euc 'groupadd -g 1000 git && useradd -u 1000 -g 1000 -M -d /var/lib/gitea/git -s /bin/bash git'
install -m 0755 "$STANDINS/forgejo.py" "$ROOT/usr/local/bin/forgejo"
ln -sf forgejo "$ROOT/usr/local/bin/gitea"
cat >"$ROOT/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# The rootless Forgejo image's docker-entrypoint.sh: its arguments, or the server (here the
# luciac stand-in, /usr/local/bin/forgejo).
if [ "$#" -gt 0 ]; then
	exec "$@"
fi
exec /usr/local/bin/forgejo -c "${GITEA_APP_INI:-/etc/gitea/app.ini}" web
SH
chmod 0755 "$ROOT/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$ROOT/var/lib/gitea" "$ROOT/etc/gitea" && chown 1000:1000 "$ROOT/var/lib/gitea" "$ROOT/etc/gitea"
