#!/usr/bin/env bash
# The seed's node procedures, as an operator would script them:
#   node init -> cluster join -> cluster status -> node drain -> cluster remove -> node stop
# Three machines are simulated on loopback: each node has its own config and data directory
# under $ROOT. n1 founds the cluster (its agent started as a service manager would); n2 and n3
# join through n1. Every step's exit code is printed as "STEP <name> <code>" for the test to check;
# the script does not stop at a failure, so the test sees every step.
set -u
: "${ROOT:?}" "${ADMIN:?}" "${AGENT:?}" "${P1:?}" "${P2:?}" "${P3:?}" "${G1:?}" "${G2:?}" "${G3:?}"
admin() { node "$ADMIN" "$@"; }
step() { local name=$1; shift; "$@"; echo "STEP $name $?"; }

export RUSTYDB_ENDPOINTS="http://127.0.0.1:$P1"

step init-n1 admin node init --node-id n1 --cluster seed --data-dir "$ROOT/n1" --address "127.0.0.1:$P1" --pg-port "$G1" --config "$ROOT/n1/rustydb.conf" --bootstrap
step init-n2 admin node init --node-id n2 --cluster seed --data-dir "$ROOT/n2" --address "127.0.0.1:$P2" --pg-port "$G2" --config "$ROOT/n2/rustydb.conf"
step init-n3 admin node init --node-id n3 --cluster seed --data-dir "$ROOT/n3" --address "127.0.0.1:$P3" --pg-port "$G3" --config "$ROOT/n3/rustydb.conf"

# The founder's agent, as systemd would start it.
nohup node "$AGENT" --config "$ROOT/n1/rustydb.conf" >"$ROOT/n1/agent.log" 2>&1 &
echo "STEP start-n1 0"

step join-n2 admin cluster join --node-id n2 --cluster-address "127.0.0.1:$P1" --config "$ROOT/n2/rustydb.conf" --timeout 3m
step join-n3 admin cluster join --node-id n3 --cluster-address "127.0.0.1:$P1" --config "$ROOT/n3/rustydb.conf" --timeout 3m
status_to_file() { admin cluster status -o json >"$ROOT/status.json"; }
step status status_to_file
step drain-n3 admin node drain n3 --timeout 10s
step remove-n3 admin cluster remove n3 --yes
step stop-n3 admin node stop n3
