# A Debian host with systemd as PID 1: Debian's redis-server.service (real), mongod.service
# running the MongoDB STAND-IN as MongoDB's packages do, the AgentHost stand-in as the `dotnet`
# program install.sh finds on the PATH (/usr/bin/dotnet) and the agenthost's files (what
# `install.sh --files agenthost=DIR` installs) in /srv/lucia-publish. For the git-forge example:
# Debian's PostgreSQL 15 (real; postgresql.service and the cluster 15/main its package made,
# listening on localhost, enabled), sudo for the `sudo -u postgres` its README asks for, and the
# Forgejo STAND-IN as the program `forgejo` on the PATH (/usr/local/bin/forgejo), where one puts
# Forgejo's release binary.
install -D -m 0755 "$STANDINS/mongo.py" "$ROOT/usr/local/lib/mongo-standin/mongo.py"
for t in mongod mongosh mongodump mongorestore; do ln -sf ../lib/mongo-standin/mongo.py "$ROOT/usr/local/bin/$t"; done
# MongoDB's packages make a system user with whatever ID is free, as this does.
in_root sh -c 'useradd -r -U -d /var/lib/mongodb -s /usr/sbin/nologin mongodb && install -d -o mongodb -g mongodb /var/lib/mongodb'
install -m 0644 "$STANDINS/mongod.service" "$ROOT/lib/systemd/system/mongod.service"
ln -sf /lib/systemd/system/mongod.service "$ROOT/etc/systemd/system/multi-user.target.wants/mongod.service"
install_dotnet_standin
mkdir -p "$ROOT/srv/lucia-publish" && : >"$ROOT/srv/lucia-publish/lucia.AgentHost.dll"
install -m 0755 "$STANDINS/forgejo.py" "$ROOT/usr/local/bin/forgejo"
test -s "$ROOT/var/lib/postgresql/15/main/PG_VERSION"
test -L "$ROOT/etc/systemd/system/multi-user.target.wants/postgresql.service"
# A container has no consoles to log in on.
for u in getty@tty1.service console-getty.service; do ln -sf /dev/null "$ROOT/etc/systemd/system/$u"; done
