#!/usr/bin/env bash
# The seed's rolling-upgrade procedure, as written (only the pause is a variable, for the test).
set -e
admin() { node "$ADMIN" "$@"; }
for node in n2 n3; do
  admin node drain $node
  admin node upgrade $node --version 15.18
  admin node start $node
  sleep "${PAUSE:-60}"
done
admin cluster failover --to n2
admin node drain n1
admin node upgrade n1 --version 15.18
admin node start n1
