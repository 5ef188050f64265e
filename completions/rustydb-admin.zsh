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
    '') reply=('cluster:The whole cluster\: status, failover/switchover, history' 'node:One node of the cluster\: its engine, replication and Raft state' 'sandbox:A complete local cluster on 127.0.0.1\: one agent and one PostgreSQL per node, all state under one directory' 'completion:print the shell completion script (commands, flags, and node ids from the current context)' 'help:display help for a command, or a topic\: exit-codes') ;;
    'cluster') reply=('status:show the cluster\: primary, epoch, leader, quorum, and each member'\''s role, state, health and lag' 'failover:switch the primary over to a replica (planned, zero loss); --force\: emergency failover that may lose data' 'history:list failovers and switchovers, newest first') ;;
    'node') reply=('status:show one node\: role, health, LSNs and lag, its engine'\''s state and its Raft state') ;;
    'sandbox') reply=('up:start a local cluster (or restart an existing one with its data) and wait until it is healthy' 'status:show the sandbox'\''s nodes (role, ports, pids) and the connection string' 'down:stop every agent and PostgreSQL of the sandbox; --purge also deletes its directory and data') ;;
  esac
}

_rustydb_admin_options() {
  reply=()
  case $1 in
    '') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster status') reply=('-w:redraw every 2 s on a terminal until Ctrl-C' '--watch:redraw every 2 s on a terminal until Ctrl-C' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster failover') reply=('--prepare:only check that --to is ready to take over (changes nothing); exit 0 if ready, 5 if not' '--timeout:give up waiting after this long (the operation may go on)' '--no-wait:return once the request is accepted; follow it with GET /v1/operations/<id>' '--wait:follow the operation until it succeeds or fails' '-y:confirm a destructive --force failover without a prompt' '--yes:confirm a destructive --force failover without a prompt' '--force:emergency failover even if the primary is unhealthy\: may lose acknowledged writes (needs --to and --yes)' '--to:the node to promote (planned\: optional, the leader picks the best replica)' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'cluster history') reply=('--limit:at most this many records' '-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
    'node status') reply=('-h:display help for command' '--help:display help for command' '--debug:print stack traces of unexpected errors' '--no-color:no colour, even on a terminal' '--context:use this context of admin.toml instead of the current one' '--endpoint:agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)' '-o:output format' '--output:output format' '-V:output the version number' '--version:output the version number') ;;
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
    'cluster history') reply=(--limit --context --endpoint -o --output) ;;
    'node') reply=(--context --endpoint -o --output) ;;
    'node status') reply=(--context --endpoint -o --output) ;;
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
    *) _files ;;
  esac
}

_rustydb_admin_arguments() {
  case $1 in
    'node status') local -a ids; ids=(${(f)"$(_rustydb_admin_node_ids ${words[1]} "${conn[@]}")"}); compadd -a ids ;;
    'completion') compadd -- bash zsh fish ;;
    'help') compadd -- cluster node sandbox completion exit-codes ;;
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
