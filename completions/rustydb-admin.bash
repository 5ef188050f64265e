# bash completion for rustydb-admin
# Generated from the command tree by `npm run gen-docs` (or `rustydb-admin completion`); do not edit.
# Install: rustydb-admin completion bash > ~/.local/share/bash-completion/completions/rustydb-admin

# Member ids of the cluster ($1: the program, then --endpoint/--context as typed); nothing if unreachable within 2 s.
_rustydb_admin_node_ids() {
  local prog=$1; shift
  local t=()
  command -v timeout >/dev/null 2>&1 && t=(timeout 2)
  "${t[@]}" "$prog" "$@" cluster status -o json 2>/dev/null </dev/null |
    node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{try{for(const m of JSON.parse(s).members)console.log(m.id)}catch{}})' 2>/dev/null
}

_rustydb_admin_subcommands() {
  case $1 in
    '') echo "cluster node config token sandbox completion help" ;;
    'cluster') echo "status failover force-quorum history health join remove operation audit token rotate-certs upgrade" ;;
    'cluster token') echo "create" ;;
    'cluster upgrade') echo "status resume abort" ;;
    'node') echo "init status drain undrain stop start fence unfence reinit upgrade" ;;
    'config') echo "show get set" ;;
    'token') echo "create list revoke" ;;
    'sandbox') echo "up status down" ;;
  esac
}

_rustydb_admin_options() {
  case $1 in
    '') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster status') echo "-w --watch -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster failover') echo "--prepare --timeout --no-wait --wait -y --yes --force --to -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster force-quorum') echo "--timeout --dry-run --confirm-data-loss --nodes -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster history') echo "--limit -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster health') echo "-c --components -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster join') echo "--token --no-start-agent --timeout --config --role --cluster-address --node-id -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster remove') echo "-y --yes -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster operation') echo "--timeout --wait -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster audit') echo "--limit -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster token') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster token create') echo "--role --ttl -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster rotate-certs') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster upgrade') echo "--timeout --transfer-timeout --pause-between -y --yes --dry-run --version -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster upgrade status') echo "--timeout --transfer-timeout --pause-between -y --yes --dry-run --version -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster upgrade resume') echo "--timeout --transfer-timeout --pause-between -y --yes --dry-run --version -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'cluster upgrade abort') echo "--no-wait --wait --timeout --transfer-timeout --pause-between -y --yes --dry-run --version -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node init') echo "--no-tls --force --config --bootstrap --role --engine-release --pg-port --address --data-dir --cluster --node-id -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node status') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node drain') echo "--no-wait --switchover --no-terminate --timeout -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node undrain') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node stop') echo "--timeout -y --yes --force -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node start') echo "--timeout -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node fence') echo "--timeout --no-wait -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node unfence') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node reinit') echo "--timeout --no-wait -y --yes -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'node upgrade') echo "--timeout --no-wait --version -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'config') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'config show') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'config get') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'config set') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'token') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'token create') echo "--name --role -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'token list') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'token revoke') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'sandbox') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'sandbox up') echo "--timeout --release --dir --nodes -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'sandbox status') echo "--dir -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'sandbox down') echo "--purge --dir -h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'completion') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
    'help') echo "-h --help --debug --no-color --ca-file --token-file --context --endpoint -o --output -V --version" ;;
  esac
}

_rustydb_admin_value_options() {
  case $1 in
    '') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster status') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster failover') echo "--timeout --to --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster force-quorum') echo "--timeout --nodes --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster history') echo "--limit --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster health') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster join') echo "--token --timeout --config --role --cluster-address --node-id --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster remove') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster operation') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster audit') echo "--limit --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster token') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster token create') echo "--role --ttl --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster rotate-certs') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'cluster upgrade') echo "--timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster upgrade status') echo "--timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster upgrade resume') echo "--timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output" ;;
    'cluster upgrade abort') echo "--timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output" ;;
    'node') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'node init') echo "--config --role --engine-release --pg-port --address --data-dir --cluster --node-id --ca-file --token-file --context --endpoint -o --output" ;;
    'node status') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'node drain') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'node undrain') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'node stop') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'node start') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'node fence') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'node unfence') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'node reinit') echo "--timeout --ca-file --token-file --context --endpoint -o --output" ;;
    'node upgrade') echo "--timeout --version --ca-file --token-file --context --endpoint -o --output" ;;
    'config') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'config show') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'config get') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'config set') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'token') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'token create') echo "--name --role --ca-file --token-file --context --endpoint -o --output" ;;
    'token list') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'token revoke') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'sandbox') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'sandbox up') echo "--timeout --release --dir --nodes --ca-file --token-file --context --endpoint -o --output" ;;
    'sandbox status') echo "--dir --ca-file --token-file --context --endpoint -o --output" ;;
    'sandbox down') echo "--dir --ca-file --token-file --context --endpoint -o --output" ;;
    'completion') echo "--ca-file --token-file --context --endpoint -o --output" ;;
    'help') echo "--ca-file --token-file --context --endpoint -o --output" ;;
  esac
}

# Sets COMPREPLY for the value of option $2 at command path $1 (default: files).
_rustydb_admin_value() {
  case "$1 $2" in
    *' -o'|*' --output') COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
    'cluster failover --to') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'cluster join --node-id') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'cluster join --role') COMPREPLY=($(compgen -W "follower observer witness" -- "$cur")) ;;
    'cluster token create --role') COMPREPLY=($(compgen -W "follower observer witness" -- "$cur")) ;;
    'node init --node-id') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node init --role') COMPREPLY=($(compgen -W "follower observer witness" -- "$cur")) ;;
    'token create --role') COMPREPLY=($(compgen -W "read-only operator admin" -- "$cur")) ;;
    *) compopt -o default 2>/dev/null; COMPREPLY=() ;;
  esac
}

# Sets COMPREPLY for an argument of the command at path $1.
_rustydb_admin_arguments() {
  case $1 in
    'cluster remove') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'cluster operation') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node status') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node drain') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node undrain') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node stop') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node start') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node fence') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node unfence') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node reinit') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'node upgrade') COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "${COMP_WORDS[0]}" "${conn[@]}")" -- "$cur")) ;;
    'config get') compopt -o default 2>/dev/null; COMPREPLY=() ;;
    'config set') compopt -o default 2>/dev/null; COMPREPLY=() ;;
    'token revoke') compopt -o default 2>/dev/null; COMPREPLY=() ;;
    'completion') COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
    'help') COMPREPLY=($(compgen -W "cluster node config token sandbox completion exit-codes" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "$(_rustydb_admin_options "$1")" -- "$cur")) ;;
  esac
}

_rustydb_admin() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local path="" skip="" i w v
  local conn=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ -n $skip ]]; then
      [[ $w == "=" ]] || skip=""
      continue
    fi
    case $w in
      --endpoint | --context)
        v=${COMP_WORDS[i + 1]}
        [[ $v == "=" ]] && v=${COMP_WORDS[i + 2]}
        conn+=("$w" "$v")
        skip=1
        ;;
      -*)
        [[ " $(_rustydb_admin_value_options "$path") " == *" $w "* ]] && skip=1
        ;;
      *)
        [[ " $(_rustydb_admin_subcommands "$path") " == *" $w "* ]] && path=${path:+$path }$w
        ;;
    esac
  done
  # --flag=value: bash splits at "=" (COMP_WORDBREAKS).
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]]; then
    prev=${COMP_WORDS[COMP_CWORD-2]}
  fi
  if [[ " $(_rustydb_admin_value_options "$path") " == *" $prev "* ]]; then
    _rustydb_admin_value "$path" "$prev"
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_rustydb_admin_options "$path")" -- "$cur"))
  elif [[ -n $(_rustydb_admin_subcommands "$path") ]]; then
    COMPREPLY=($(compgen -W "$(_rustydb_admin_subcommands "$path")" -- "$cur"))
  else
    _rustydb_admin_arguments "$path"
  fi
}

complete -F _rustydb_admin rustydb-admin
