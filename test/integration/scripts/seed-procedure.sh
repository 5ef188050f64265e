#!/usr/bin/env bash
# The seed's node procedures, as an operator would script them:
#   node init -> cluster join -> cluster status -> node drain -> cluster remove -> node stop
# Three machines are simulated on loopback: each node has its own config and data directory
# under $ROOT. n1 founds the cluster (its agent started as a service manager would); n2 and n3
# join through n1, each with a one-time join token (`cluster token create`). TLS everywhere: the CLI
# trusts the cluster CA that n1's `node init --bootstrap` made, and uses the admin token it printed.
# Every step's exit code is printed as "STEP <name> <code>" for the test to check;
# the script does not stop at a failure, so the test sees every step.
set -u
: "${ROOT:?}" "${ADMIN:?}" "${AGENT:?}" "${P1:?}" "${P2:?}" "${P3:?}" "${G1:?}" "${G2:?}" "${G3:?}"
admin() { node "$ADMIN" "$@"; }
step() { local name=$1; shift; "$@"; echo "STEP $name $?"; }

export RUSTYDB_ENDPOINTS="https://127.0.0.1:$P1"
export RUSTYDB_CA_FILE="$ROOT/n1/agent/tls/ca.pem"

init_n1() { admin node init --node-id n1 --cluster seed --data-dir "$ROOT/n1" --address "127.0.0.1:$P1" --pg-port "$G1" --config "$ROOT/n1/rustydb.conf" --bootstrap -o json >"$ROOT/init-n1.json"; }
step init-n1 init_n1
# The admin token node init printed once (JSON field adminToken).
RUSTYDB_TOKEN="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).adminToken)' "$ROOT/init-n1.json")"
export RUSTYDB_TOKEN
step init-n2 admin node init --node-id n2 --cluster seed --data-dir "$ROOT/n2" --address "127.0.0.1:$P2" --pg-port "$G2" --config "$ROOT/n2/rustydb.conf"
step init-n3 admin node init --node-id n3 --cluster seed --data-dir "$ROOT/n3" --address "127.0.0.1:$P3" --pg-port "$G3" --config "$ROOT/n3/rustydb.conf"

# The founder's agent, as systemd would start it.
nohup node "$AGENT" --config "$ROOT/n1/rustydb.conf" >"$ROOT/n1/agent.log" 2>&1 &
echo "STEP start-n1 0"

# A join token per node; the founder may still be starting, so ask until it answers (at most a minute).
join_token() {
  local t
  for _ in $(seq 60); do
    t=$(admin cluster token create --ttl 10m -o json 2>/dev/null) && { node -e 'console.log(JSON.parse(process.argv[1]).token)' "$t"; return 0; }
    sleep 1
  done
  return 1
}
join() { local tok; tok=$(join_token) || return 1; admin cluster join --node-id "$1" --cluster-address "127.0.0.1:$P1" --config "$ROOT/$1/rustydb.conf" --timeout 3m --token "$tok"; }
step join-n2 join n2
step join-n3 join n3
status_to_file() { admin cluster status -o json >"$ROOT/status.json"; }
step status status_to_file
step drain-n3 admin node drain n3 --timeout 10s
step remove-n3 admin cluster remove n3 --yes
step stop-n3 admin node stop n3
