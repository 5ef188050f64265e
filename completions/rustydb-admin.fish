# fish completion for rustydb-admin
# Generated from the command tree by `npm run gen-docs` (or `rustydb-admin completion`); do not edit.
# Install: rustydb-admin completion fish > ~/.config/fish/completions/rustydb-admin.fish

function __rustydb_admin_subcommands
    switch $argv[1]
        case ''
            echo cluster node config token sandbox completion help
        case 'cluster'
            echo status failover force-quorum history health join remove operation audit token rotate-certs upgrade
        case 'cluster token'
            echo create
        case 'cluster upgrade'
            echo status resume abort
        case 'node'
            echo init status drain undrain stop start fence unfence reinit upgrade
        case 'config'
            echo show get set
        case 'token'
            echo create list revoke
        case 'sandbox'
            echo up status down
    end
end

function __rustydb_admin_value_options
    switch $argv[1]
        case ''
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster status'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster failover'
            echo --timeout --to --ca-file --token-file --context --endpoint -o --output
        case 'cluster force-quorum'
            echo --timeout --nodes --ca-file --token-file --context --endpoint -o --output
        case 'cluster history'
            echo --limit --ca-file --token-file --context --endpoint -o --output
        case 'cluster health'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster join'
            echo --token --timeout --config --role --cluster-address --node-id --ca-file --token-file --context --endpoint -o --output
        case 'cluster remove'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster operation'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'cluster audit'
            echo --limit --ca-file --token-file --context --endpoint -o --output
        case 'cluster token'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster token create'
            echo --role --ttl --ca-file --token-file --context --endpoint -o --output
        case 'cluster rotate-certs'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'cluster upgrade'
            echo --timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output
        case 'cluster upgrade status'
            echo --timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output
        case 'cluster upgrade resume'
            echo --timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output
        case 'cluster upgrade abort'
            echo --timeout --transfer-timeout --pause-between --version --ca-file --token-file --context --endpoint -o --output
        case 'node'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'node init'
            echo --config --role --engine-release --pg-port --address --data-dir --cluster --node-id --ca-file --token-file --context --endpoint -o --output
        case 'node status'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'node drain'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'node undrain'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'node stop'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'node start'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'node fence'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'node unfence'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'node reinit'
            echo --timeout --ca-file --token-file --context --endpoint -o --output
        case 'node upgrade'
            echo --timeout --version --ca-file --token-file --context --endpoint -o --output
        case 'config'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'config show'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'config get'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'config set'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'token'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'token create'
            echo --name --role --ca-file --token-file --context --endpoint -o --output
        case 'token list'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'token revoke'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'sandbox'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'sandbox up'
            echo --timeout --release --dir --nodes --ca-file --token-file --context --endpoint -o --output
        case 'sandbox status'
            echo --dir --ca-file --token-file --context --endpoint -o --output
        case 'sandbox down'
            echo --dir --ca-file --token-file --context --endpoint -o --output
        case 'completion'
            echo --ca-file --token-file --context --endpoint -o --output
        case 'help'
            echo --ca-file --token-file --context --endpoint -o --output
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
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a cluster -d 'The whole cluster: status, failover/switchover, history, health'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a node -d 'One node of the cluster: prepare it, drain it, stop/start its engine, fence it, reinitialize it, upgrade its engine'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a config -d 'The cluster\'s runtime knobs: ha_mode, min_quorum_size, read_from_followers, failover_mode, lease_ms, ...'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a token -d 'API tokens and their roles (admin, operator, read-only): create, list, revoke'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a sandbox -d 'A complete local cluster on 127.0.0.1: one agent and one PostgreSQL per node, all state under one directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a completion -d 'print the shell completion script (commands, flags, and node ids from the current context)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'\'' -a help -d 'display help for a command, or a topic: exit-codes'
complete -c rustydb-admin -s V -l version -d 'output the version number'
complete -c rustydb-admin -s o -l output -x -a 'table json' -d 'output format'
complete -c rustydb-admin -l endpoint -r -F -d 'agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)'
complete -c rustydb-admin -l context -r -F -d 'use this context of admin.toml instead of the current one'
complete -c rustydb-admin -l token-file -r -F -d 'file holding the API token (overrides RUSTYDB_TOKEN and the context\'s token_file)'
complete -c rustydb-admin -l ca-file -r -F -d 'CA certificate to trust for https endpoints (overrides RUSTYDB_CA_FILE and the context\'s ca_file)'
complete -c rustydb-admin -l no-color -d 'no colour, even on a terminal'
complete -c rustydb-admin -l debug -d 'print stack traces of unexpected errors'
complete -c rustydb-admin -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a status -d 'show the cluster: primary, epoch, leader, quorum, and each member\'s role, state, health and lag'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a failover -d 'switch the primary over to a replica (planned, zero loss); --force: emergency failover that may lose data'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a force-quorum -d 'disaster recovery after a majority of voters is lost for good: the survivors form a new configuration with a new epoch; MAY LOSE DATA'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a history -d 'list failovers and switchovers, newest first'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a health -d 'score each member\'s health (0-100) from its agent, engine, role, replication, lag, Raft and lease, and say what costs points'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a join -d 'add this machine (prepared by `node init`) to a cluster: clone the database, catch up, become a member'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a remove -d 'remove a node from the cluster (not the primary; never below a quorum); drops its replication slot'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a operation -d 'show an operation by id (switchover, failover, drain, reinit, force-quorum); --wait follows it to the end'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a audit -d 'show the audit log of mutating API calls, newest first'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a token -d 'join tokens: one-time permission for a new node to join'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a rotate-certs -d 're-issue every member\'s node certificate (new keys, same CA) without downtime'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -a upgrade -d 'rolling upgrade of every node to a minor release (journaled: status, resume, abort)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster status\'' -s w -l watch -d 'redraw every 2 s on a terminal until Ctrl-C'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l to -x -a '(__rustydb_admin_node_ids)' -d 'the node to promote (planned: optional, the leader picks the best replica)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l force -d 'emergency failover even if the primary is unhealthy: may lose acknowledged writes (needs --to, and typing its id or --yes)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -s y -l yes -d 'confirm a destructive --force failover without a prompt (required when not on a terminal)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l wait -d 'follow the operation until it succeeds or fails'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l no-wait -d 'return once the request is accepted; follow it with GET /v1/operations/<id>'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l timeout -r -F -d 'give up waiting after this long (the operation may go on)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -l prepare -d 'only check that --to is ready to take over (changes nothing); exit 0 if ready, 5 if not'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster failover\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster force-quorum\'' -l nodes -r -F -d 'the surviving voters (and witnesses), comma-separated; every other voter is dropped'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster force-quorum\'' -l confirm-data-loss -d 'confirm that writes held only by the dropped members may be lost (always required; on a terminal you also type the cluster name)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster force-quorum\'' -l dry-run -d 'show the plan and change nothing'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster force-quorum\'' -l timeout -r -F -d 'give up waiting for the new primary after this long (it may still come)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster force-quorum\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster history\'' -l limit -r -F -d 'at most this many records'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster history\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster health\'' -s c -l components -d 'list every component of every node (weight, value, sentence)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster health\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l node-id -x -a '(__rustydb_admin_node_ids)' -d 'this node (must match node_id in its rustydb.conf)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l cluster-address -r -F -d 'any member\'s agent address (leader or not)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l role -x -a 'follower observer witness' -d 'follower (voter), observer (non-voting replica) or witness (vote, no database)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l config -r -F -d 'this node\'s rustydb.conf (default: $RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l timeout -r -F -d 'give up waiting after this long (re-running continues)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l no-start-agent -d 'do not start the local agent when it does not answer (a service manager runs it)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -l token -r -F -d 'the one-time join token from `cluster token create` (required for a TLS cluster; default: $RUSTYDB_JOIN_TOKEN)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster join\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster remove\'' -s y -l yes -d 'confirm without a prompt (required when not on a terminal)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster remove\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster remove\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster operation\'' -l wait -d 'follow it until it succeeds (exit 0) or fails (exit 1)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster operation\'' -l timeout -r -F -d 'with --wait: give up after this long (exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster operation\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster operation\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster audit\'' -l limit -r -F -d 'at most this many records'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster audit\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster token\'' -a create -d 'create a one-time join token for a new node (shown once; the cluster keeps its hash)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster token\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster token create\'' -l ttl -r -F -d 'how long the token stays valid'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster token create\'' -l role -x -a 'follower observer witness' -d 'what the new node may join as'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster token create\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster rotate-certs\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -a status -d 'show the rolling upgrade journal step by step (works from any machine)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -a resume -d 'continue the running upgrade from its last completed step'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -a abort -d 'stop the running upgrade after the node in flight (the journal ends aborted)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -l version -r -F -d 'the release to move to (a name from [engine.releases], e.g. 15.18)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -l dry-run -d 'print the plan (order, checks, the switchover) and change nothing'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -s y -l yes -d 'start without asking (required when not on a terminal)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -l pause-between -r -F -d 'wait this long after each node passed its health gate'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -l transfer-timeout -r -F -d 'give up waiting for the switchover after this long (exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -l timeout -r -F -d 'give up waiting for one node\'s upgrade and health gate after this long (exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade resume\'' -l pause-between -r -F -d 'wait this long after each node passed its health gate'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade resume\'' -l transfer-timeout -r -F -d 'give up waiting for the switchover after this long (exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade resume\'' -l timeout -r -F -d 'give up waiting for one node\'s upgrade and health gate after this long (exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade resume\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade abort\'' -l wait -d 'wait until the node in flight is done and the journal is aborted'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade abort\'' -l no-wait -d 'return once the abort is recorded'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade abort\'' -l timeout -r -F -d 'with --wait: give up after this long (exit 7); the abort stays recorded'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'cluster upgrade abort\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a init -d 'prepare this machine to run a node: write rustydb.conf, create the data directory and the node identity'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a status -d 'show one node: role, health, LSNs and lag, its engine\'s state and its Raft state'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a drain -d 'take a node out of client traffic: no new connections, wait for sessions to end, then terminate the rest'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a undrain -d 'return a drained (or draining) node to client traffic'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a stop -d 'stop the node\'s engine; it stays stopped until `node start`'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a start -d 'return a node to service: start its engine if stopped and end a drain (a no-op on a node in service)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a fence -d 'fence a node: its engine stops serving writes and reads, and it cannot be promoted until unfenced'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a unfence -d 'lift a fence: the node rejoins replication as a standby (rewound or re-cloned as needed)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a reinit -d 'wipe a standby\'s database and copy it afresh from the primary'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -a upgrade -d 'move a standby\'s engine to another installed minor release (rolled back if it does not start)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l node-id -x -a '(__rustydb_admin_node_ids)' -d 'this node\'s name in the cluster (lower-case letter, then letters, digits, _ or -)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l cluster -r -F -d 'the cluster this node belongs to (the same on every node)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l data-dir -r -F -d 'where the engine data (pgdata/) and agent state (agent/) live'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l address -r -F -d 'where other nodes reach this node\'s agent (default: <hostname>:5433)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l pg-port -r -F -d 'the engine\'s port'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l engine-release -r -F -d 'the engine release to run (a PostgreSQL major installed here, e.g. 15)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l role -x -a 'follower observer witness' -d 'what the node will be'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l bootstrap -d 'this node founds a new cluster (the first node); otherwise it waits for `cluster join`'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l config -r -F -d 'where to write rustydb.conf (default: $RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l force -d 'overwrite the config and identity of an existing node (its data is kept)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -l no-tls -d 'plain HTTP instead of TLS 1.3 with the cluster CA (only where the network is otherwise protected)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node init\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node status\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node status\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -l timeout -r -F -d 'how long to wait for client sessions to end'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -l no-terminate -d 'leave sessions still connected at the timeout alone (the drain then fails with exit 7)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -l switchover -d 'if the node is the primary, switch over to the best replica first'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -l no-wait -d 'return once the drain has started; follow it with GET /v1/operations/<id>'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node drain\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node undrain\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node undrain\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node stop\'' -l force -d 'stop even the primary (the cluster fails over after its failover timeout; writes stop until then)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node stop\'' -s y -l yes -d 'confirm --force on the primary without a prompt (required when not on a terminal)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node stop\'' -l timeout -r -F -d 'give up waiting for the engine after this long'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node stop\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node stop\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node start\'' -l timeout -r -F -d 'give up waiting for the engine after this long'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node start\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node start\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node fence\'' -l no-wait -d 'return once the fence is recorded, without waiting for the engine to stop'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node fence\'' -l timeout -r -F -d 'give up waiting for the engine to stop after this long'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node fence\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node fence\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node unfence\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node unfence\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node reinit\'' -s y -l yes -d 'confirm without a prompt (required when not on a terminal)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node reinit\'' -l no-wait -d 'return once the copy has started'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node reinit\'' -l timeout -r -F -d 'give up waiting after this long (the copy goes on)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node reinit\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node reinit\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node upgrade\'' -l version -r -F -d 'the release to run, as named in [engine.releases] (e.g. 15.18)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node upgrade\'' -l no-wait -d 'return once the upgrade has started; follow it with `cluster operation ID --wait`'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node upgrade\'' -l timeout -r -F -d 'how long the new release may take to stream and catch up'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node upgrade\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'node upgrade\'' -x -a '(__rustydb_admin_node_ids)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config\'' -a show -d 'show every runtime knob: value, source (cluster, default, built-in, rustydb.conf) and description'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config\'' -a get -d 'print one runtime knob; table output is the bare value (for $(...) in scripts)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config\'' -a set -d 'change a runtime knob on the whole cluster; prints the old and the new value'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config show\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config get\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config get\'' -F
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config set\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'config set\'' -F
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token\'' -a create -d 'create an API token; it is printed once, store it (e.g. in a 0600 file named by the context\'s token_file)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token\'' -a list -d 'list API tokens (revoked ones too, with when)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token\'' -a revoke -d 'revoke an API token by id or name'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token create\'' -l role -x -a 'read-only operator admin' -d 'what the token may do'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token create\'' -l name -r -F -d 'who or what uses it (shown in the audit log), e.g. ci-deploy'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token create\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token list\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token revoke\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'token revoke\'' -F
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a up -d 'start a local cluster (or restart an existing one with its data) and wait until it is healthy'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a status -d 'show the sandbox\'s nodes (role, ports, pids) and the connection string'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -a down -d 'stop every agent and PostgreSQL of the sandbox; --purge also deletes its directory and data'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox\'' -s h -l help -d 'display help for command'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l nodes -r -F -d 'number of nodes, for a new sandbox (default: 3)'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l dir -r -F -d 'the sandbox directory'
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'sandbox up\'' -l release -r -F -d 'PostgreSQL release to start on, installed here: an exact version (e.g. 15.17) or a major (15)'
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
complete -c rustydb-admin -n 'test "(__rustydb_admin_path)" = \'help\'' -x -a 'cluster node config token sandbox completion exit-codes'
