for i in $(seq 1 30); do wget -q -O /dev/null "http://$TARGET_HOST:$TARGET_PORT$TARGET_PATH" && exit 0; echo "attempt $i failed"; sleep 10; done; exit 1
