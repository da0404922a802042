# MongoDB STAND-IN (see standins/mongo.py): user mongodb = UID/GID 999 as in the official image,
# /data/db and /data/configdb owned by it; mongod, mongosh, mongodump, mongorestore on PATH.
in_root sh -c 'groupadd -r -g 999 mongodb && useradd -r -u 999 -g 999 -d /data/db -s /usr/sbin/nologin mongodb'
install -D -m 0755 "$STANDINS/mongo.py" "$ROOT/usr/local/lib/mongo-standin/mongo.py"
for t in mongod mongosh mongodump mongorestore; do ln -sf ../lib/mongo-standin/mongo.py "$ROOT/usr/local/bin/$t"; done
mkdir -p "$ROOT/data/db" "$ROOT/data/configdb" && chown 999:999 "$ROOT/data/db" "$ROOT/data/configdb"
