#compdef rustydb-admin
# Generated from the command tree by `npm run gen-docs` (or `rustydb-admin completion`); do not edit.
# Install: rustydb-admin completion zsh > "${fpath[1]}/_rustydb-admin"

# Member ids of the cluster ($1: the program, then --endpoint/--context as typed); nothing if unreachable within 2 s.
_rustydb_admin_node_ids() {
  local prog=$1; shift
  local -a t
  (( $+commands[timeout] )) && t=(timeout 2)
  $t "$prog" "$@" cluster status -o json 2>/dev/null </dev/null |
    node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{try{for(const m of JSON.parse(s).members)console.log(m.id)}catch{}})' 2>/dev/null
}

_rustydb_admin_subcommands() {
  reply=()
  case $1 in
    '') reply=('cluster:The whole cluster\: status, failover/switchover, history, health' 'node:One node of the cluster\: prepare it, drain it, stop/start its engine, fence it, reinitialize it' 'config:The cluster'\''s runtime knobs\: ha_mode, min_quorum_size, read_from_followers, failover_mode, lease_ms, ...' 'sandbox:A complete local cluster on 127.0.0.1\: one agent and one PostgreSQL per node, all state under one directory' 'completion:print the shell completion script (commands, flags, and node ids from the current context)' 'help:display help for a command, or a topic\: exit-codes') ;;
    'cluster') reply=('status:show the cluster\: primary, epoch, leader, quorum, and each member'\''s role, state, health and lag' 'failover:switch the primary over to a replica (planned, zero loss); --force\: emergency failover that may lose data' 'force-quorum:disaster recovery after a majority of voters is lost for good\: the survivors form a new configuration with a new epoch; MAY LOSE DATA' 'history:list failovers and switchovers, newest first' 'health:score each member'\''s health (0-100) from its agent, engine, role, replication, lag, Raft and lease, and say what costs points' 'join:add this machine (prepared by `node init`) to a cluster\: clone the database, catch up, become a member' 'remove:remove a node from the cluster (not the primary; never below a quorum); drops its replication slot' 'operation:show an operation by id (switchover, failover, drain, reinit, force-quorum); --wait follows it to the end') ;;
    'node') reply=('init:prepare this machine to run a node\: write rustydb.conf, create the data directory and the node identity' 'status:show one node\: role, health, LSNs and lag, its engine'\''s state and its Raft state' 'drain:take a node out of client traffic\: no new connections, wait for sessions to end, then terminate the rest' 'undrain:return a drained (or draining) node to client traffic' 'stop:stop the node'\''s engine; it stays stopped until `node start`' 'start:return a node to service\: start its engine if stopped and end a drain (a no-op on a node in service)' 'fence:fence a node\: its engine stops serving writes and reads, and it cannot be promoted until unfenced' 'unfence:lift a fence\: the node rejoins replication as a standby (rewound or re-cloned as needed)' 'reinit:wipe a standby'\''s database and copy it afresh from the primary') ;;
    'config') reply=('show:show every runtime knob\: value, source (cluster, default, built-in, rustydb.conf) and description' 'get:print one runtime knob; table output is the bare value (for $(...) in scripts)' 'set:change a runtime knob on the whole cluster; prints the old and the new value') ;;
    'sandbox') reply=('up:start a local cluster (or restart an existing one with its data) and wait until it is healthy' 'status:show the sandbox'\''s nodes (role, ports, pids) and the connection string' 'down:stop every agent and PostgreSQL of the sandbox; --purge also deletes its directory and data') ;;
  esac
}

_rustydb_admin_options() {
  reply=()
  case $1 in
    '') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster status') reply=('-w:redraw every 2 s on a terminal until Ctrl-C' '--watch:redraw every 2 s on a terminal until Ctrl-C' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster failover') reply=('--prepare:only check that --to is ready to take over (changes nothing); exit 0 if ready, 5 if not' '--timeout:give up waiting after this long (the operation may go on)' '--no-wait:return once the request is accepted; follow it with GET /v1/operations/<id>' '--wait:follow the operation until it succeeds or fails' '-y:confirm a destructive --force failover without a prompt (required when not on a terminal)' '--yes:confirm a destructive --force failover without a prompt (required when not on a terminal)' '--force:emergency failover even if the primary is unhealthy\: may lose acknowledged writes (needs --to, and typing its id or --yes)' '--to:the node to promote (planned\: optional, the leader picks the best replica)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster force-quorum') reply=('--timeout:give up waiting for the new primary after this long (it may still come)' '--dry-run:show the plan and change nothing' '--confirm-data-loss:confirm that writes held only by the dropped members may be lost (always required; on a terminal you also type the cluster name)' '--nodes:the surviving voters (and witnesses), comma-separated; every other voter is dropped' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster history') reply=('--limit:at most this many records' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster health') reply=('-c:list every component of every node (weight, value, sentence)' '--components:list every component of every node (weight, value, sentence)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster join') reply=('--no-start-agent:do not start the local agent when it does not answer (a service manager runs it)' '--timeout:give up waiting after this long (re-running continues)' '--config:this node'\''s rustydb.conf (default\: $RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf)' '--role:follower (voter), observer (non-voting replica) or witness (vote, no database)' '--cluster-address:any member'\''s agent address (leader or not)' '--node-id:this node (must match node_id in its rustydb.conf)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster remove') reply=('-y:confirm without a prompt (required when not on a terminal)' '--yes:confirm without a prompt (required when not on a terminal)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster operation') reply=('--timeout:with --wait\: give up after this long (exit 7)' '--wait:follow it until it succeeds (exit 0) or fails (exit 1)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node init') reply=('--force:overwrite the config and identity of an existing node (its data is kept)' '--config:where to write rustydb.conf (default\: $RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf)' '--bootstrap:this node founds a new cluster (the first node); otherwise it waits for `cluster join`' '--role:what the node will be' '--engine-release:the engine release to run (a PostgreSQL major installed here, e.g. 15)' '--pg-port:the engine'\''s port' '--address:where other nodes reach this node'\''s agent (default\: <hostname>\:5433)' '--data-dir:where the engine data (pgdata/) and agent state (agent/) live' '--cluster:the cluster this node belongs to (the same on every node)' '--node-id:this node'\''s name in the cluster (lower-case letter, then letters, digits, _ or -)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node status') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node drain') reply=('--no-wait:return once the drain has started; follow it with GET /v1/operations/<id>' '--switchover:if the node is the primary, switch over to the best replica first' '--no-terminate:leave sessions still connected at the timeout alone (the drain then fails with exit 7)' '--timeout:how long to wait for client sessions to end' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node undrain') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node stop') reply=('--timeout:give up waiting for the engine after this long' '-y:confirm --force on the primary without a prompt (required when not on a terminal)' '--yes:confirm --force on the primary without a prompt (required when not on a terminal)' '--force:stop even the primary (the cluster fails over after its failover timeout; writes stop until then)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node start') reply=('--timeout:give up waiting for the engine after this long' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node fence') reply=('--timeout:give up waiting for the engine to stop after this long' '--no-wait:return once the fence is recorded, without waiting for the engine to stop' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node unfence') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node reinit') reply=('--timeout:give up waiting after this long (the copy goes on)' '--no-wait:return once the copy has started' '-y:confirm without a prompt (required when not on a terminal)' '--yes:confirm without a prompt (required when not on a terminal)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'config') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'config show') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'config get') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'config set') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'sandbox') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'sandbox up') reply=('--timeout:give up when not healthy after this long' '--release:PostgreSQL release to run, by major version installed here (e.g. 15)' '--dir:the sandbox directory' '--nodes:number of nodes, for a new sandbox (default\: 3)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'sandbox status') reply=('--dir:the sandbox directory' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'sandbox down') reply=('--purge:delete the sandbox directory (all data) after stopping' '--dir:the sandbox directory' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'completion') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'help') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
  esac
}

_rustydb_admin_value_options() {
  reply=()
  case $1 in
    '') reply=(--context --endpoint -o --output) ;;
    'cluster') reply=(--context --endpoint -o --output) ;;
    'cluster status') reply=(--context --endpoint -o --output) ;;
    'cluster failover') reply=(--timeout --to --context --endpoint -o --output) ;;
    'cluster force-quorum') reply=(--timeout --nodes --context --endpoint -o --output) ;;
    'cluster history') reply=(--limit --context --endpoint -o --output) ;;
    'cluster health') reply=(--context --endpoint -o --output) ;;
    'cluster join') reply=(--timeout --config --role --cluster-address --node-id --context --endpoint -o --output) ;;
    'cluster remove') reply=(--context --endpoint -o --output) ;;
    'cluster operation') reply=(--timeout --context --endpoint -o --output) ;;
    'node') reply=(--context --endpoint -o --output) ;;
    'node init') reply=(--config --role --engine-release --pg-port --address --data-dir --cluster --node-id --context --endpoint -o --output) ;;
    'node status') reply=(--context --endpoint -o --output) ;;
    'node drain') reply=(--timeout --context --endpoint -o --output) ;;
    'node undrain') reply=(--context --endpoint -o --output) ;;
    'node stop') reply=(--timeout --context --endpoint -o --output) ;;
    'node start') reply=(--timeout --context --endpoint -o --output) ;;
    'node fence') reply=(--timeout --context --endpoint -o --output) ;;
    'node unfence') reply=(--context --endpoint -o --output) ;;
    'node reinit') reply=(--timeout --context --endpoint -o --output) ;;
    'config') reply=(--context --endpoint -o --output) ;;
    'config show') reply=(--context --endpoint -o --output) ;;
    'config get') reply=(--context --endpoint -o --output) ;;
    'config set') reply=(--context --endpoint -o --output) ;;
    'sandbox') reply=(--context --endpoint -o --output) ;;
    'sandbox up') reply=(--timeout --release --dir --nodes --context --endpoint -o --output) ;;
    'sandbox status') reply=(--dir --context --endpoint -o --output) ;;
    'sandbox down') reply=(--dir --context --endpoint -o --output) ;;
    'completion') reply=(--context --endpoint -o --output) ;;
    'help') reply=(--context --endpoint -o --output) ;;
  esac
}

_rustydb_admin_value() {
  case "$1 $2" in
    *' -o'|*' --output') compadd -- table json ;;
    'cluster failover --to') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'cluster join --node-id') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'cluster join --role') compadd -- follower observer witness ;;
    'node init --node-id') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node init --role') compadd -- follower observer witness ;;
    *) _files ;;
  esac
}

_rustydb_admin_arguments() {
  case $1 in
    'cluster remove') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'cluster operation') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node status') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node drain') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node undrain') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node stop') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node start') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node fence') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node unfence') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'node reinit') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'config get') _files ;;
    'config set') _files ;;
    'completion') compadd -- bash zsh fish ;;
    'help') compadd -- cluster node config sandbox completion exit-codes ;;
    *) _rustydb_admin_options "$1"; _describe -t options option reply ;;
  esac
}

_rustydb-admin() {
  local cmdpath="" skip="" i w v prev=${words[CURRENT-1]}
  local -a conn reply
  for (( i = 2; i < CURRENT; i++ )); do
    w=${words[i]}
    if [[ -n $skip ]]; then
      skip=""
      continue
    fi
    case $w in
      --endpoint|--context)
        conn+=("$w" "${words[i+1]}")
        skip=1
        ;;
      --endpoint=*|--context=*)
        conn+=("$w")
        ;;
      -*)
        _rustydb_admin_value_options "$cmdpath"
        (( ${reply[(Ie)$w]} )) && skip=1
        ;;
      *)
        _rustydb_admin_subcommands "$cmdpath"
        (( ${${reply%%:*}[(Ie)$w]} )) && cmdpath=${cmdpath:+$cmdpath }$w
        ;;
    esac
  done
  if [[ $PREFIX == -*=* ]]; then
    prev=${PREFIX%%=*}
    compset -P '*='
    _rustydb_admin_value "$cmdpath" "$prev"
    return
  fi
  _rustydb_admin_value_options "$cmdpath"
  if (( ${reply[(Ie)$prev]} )); then
    _rustydb_admin_value "$cmdpath" "$prev"
  elif [[ $PREFIX == -* ]]; then
    _rustydb_admin_options "$cmdpath"
    _describe -t options option reply
  else
    _rustydb_admin_subcommands "$cmdpath"
    if (( $#reply )); then
      _describe -t commands command reply
    else
      _rustydb_admin_arguments "$cmdpath"
    fi
  fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _rustydb-admin "$@"
else
  compdef _rustydb-admin rustydb-admin
fi
