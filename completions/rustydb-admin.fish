# fish completion for rustydb-admin
# Generated from the command tree by `npm run gen-docs` (or `rustydb-admin completion`); do not edit.
# Install: rustydb-admin completion fish > ~/.config/fish/completions/rustydb-admin.fish

function __rustydb_admin_subcommands
    switch $argv[1]
        case ''
            echo cluster node sandbox completion help
        case 'cluster'
            echo status failover history
        case 'node'
            echo status
        case 'sandbox'
            echo up status down
    end
end

function __rustydb_admin_value_options
    switch $argv[1]
        case ''
            echo --context --endpoint -o --output
        case 'cluster'
            echo --context --endpoint -o --output
        case 'cluster status'
            echo --context --endpoint -o --output
        case 'cluster failover'
            echo --timeout --to --context --endpoint -o --output
        case 'cluster history'
            echo --limit --context --endpoint -o --output
        case 'node'
            echo --context --endpoint -o --output
        case 'node status'
            echo --context --endpoint -o --output
        case 'sandbox'
            echo --context --endpoint -o --output
        case 'sandbox up'
            echo --timeout --release --dir --nodes --context --endpoint -o --output
        case 'sandbox status'
            echo --dir --context --endpoint -o --output
        case 'sandbox down'
            echo --dir --context --endpoint -o --output
        case 'completion'
            echo --context --endpoint -o --output
        case 'help'
            echo --context --endpoint -o --output
    end
end

# The command path typed so far, e.g. "cluster failover".
function __rustydb_admin_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l path
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*'
                if contains -- $w (string split ' ' -- (__rustydb_admin_value_options "$path"))
                    set skip 1
                end
            case '*'
                if contains -- $w (string split ' ' -- (__rustydb_admin_subcommands "$path"))
                    set path $path $w
                end
        end
    end
    echo "$path"
end

# Member ids of the cluster, with --endpoint/--context as typed; nothing if unreachable within 2 s.
function __rustydb_admin_node_ids
    set -l words (commandline -opc)
    set -l conn
    for i in (seq 2 (count $words))
        switch $words[$i]
            case --endpoint --context
                set conn $conn $words[$i] $words[(math $i + 1)]
            case '--endpoint=*' '--context=*'
                set conn $conn $words[$i]
        end
    end
    set -l t
    command -q timeout; and set t timeout 2
    $t $words[1] $conn cluster status -o json 2>/dev/null </dev/null | node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{try{for(const m of JSON.parse(s).members)console.log(m.id)}catch{}})' 2>/dev/null
end

complete -c rustydb-admin -f
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a cluster -d 'The whole cluster: status, failover/switchover, history'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a node -d 'One node of the cluster: its engine, replication and Raft state'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a sandbox -d 'A complete local cluster on 127.0.0.1: one agent and one PostgreSQL per node, all state under one directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a completion -d 'print the shell completion script (commands, flags, and node ids from the current context)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a help -d 'display help for a command, or a topic: exit-codes'
complete -c rustydb-admin -s V -l version -d 'output the version number'
complete -c rustydb-admin -s o -l output -x -a 'table json' -d 'output format'
complete -c rustydb-admin -l endpoint -r -F -d 'agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)'
complete -c rustydb-admin -l context -r -F -d 'use this context of admin.toml instead of the current one'
complete -c rustydb-admin -l no-color -d 'no colour, even on a terminal'
complete -c rustydb-admin -l debug -d 'print stack traces of unexpected errors'
complete -c rustydb-admin -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a status -d 'show the cluster: primary, epoch, leader, quorum, and each member\'s role, state, health and lag'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a failover -d 'switch the primary over to a replica (planned, zero loss); --force: emergency failover that may lose data'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a history -d 'list failovers and switchovers, newest first'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster status\'' -s w -l watch -d 'redraw every 2 s on a terminal until Ctrl-C'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l to -x -a '(__rustydb_admin_node_ids)' -d 'the node to promote (planned: optional, the leader picks the best replica)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l force -d 'emergency failover even if the primary is unhealthy: may lose acknowledged writes (needs --to and --yes)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -s y -l yes -d 'confirm a destructive --force failover without a prompt'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l wait -d 'follow the operation until it succeeds or fails'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l no-wait -d 'return once the request is accepted; follow it with GET /v1/operations/<id>'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l timeout -r -F -d 'give up waiting after this long (the operation may go on)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l prepare -d 'only check that --to is ready to take over (changes nothing); exit 0 if ready, 5 if not'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster history\'' -l limit -r -F -d 'at most this many records'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster history\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a status -d 'show one node: role, health, LSNs and lag, its engine\'s state and its Raft state'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node status\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a up -d 'start a local cluster (or restart an existing one with its data) and wait until it is healthy'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a status -d 'show the sandbox\'s nodes (role, ports, pids) and the connection string'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a down -d 'stop every agent and PostgreSQL of the sandbox; --purge also deletes its directory and data'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l nodes -r -F -d 'number of nodes, for a new sandbox (default: 3)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l dir -r -F -d 'the sandbox directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l release -r -F -d 'PostgreSQL release to run, by major version installed here (e.g. 15)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l timeout -r -F -d 'give up when not healthy after this long'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox status\'' -l dir -r -F -d 'the sandbox directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox down\'' -l dir -r -F -d 'the sandbox directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox down\'' -l purge -d 'delete the sandbox directory (all data) after stopping'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox down\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'completion\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'completion\'' -x -a 'bash zsh fish'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'help\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'help\'' -x -a 'cluster node sandbox completion exit-codes'
