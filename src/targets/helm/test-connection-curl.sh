for i in $(seq 1 30); do curl -fsS -o /dev/null "http://$TARGET_HOST:$TARGET_PORT$TARGET_PATH" && exit 0; echo "attempt $i failed"; sleep 10; done; exit 1
