/**
 * Shell completion scripts generated from the command tree: commands,
 * subcommands, flags and their fixed values; node ids come from the live
 * cluster (`rustydb-admin cluster status -o json`, quietly, 2 s at most,
 * with the --endpoint/--context already typed), for every option value or
 * argument named `id`. Each script finds the command path the same way:
 * words that name a subcommand, skipping flags and the values of flags that
 * take one.
 */

import { HELP_TOPICS } from './help-command.ts';
import { allCommands, isNodeIdValue, optionsInScope, type DocCommand, type DocOption } from './tree.ts';

export type Shell = 'bash' | 'zsh' | 'fish';

const HEADER = (comment: string) => `${comment} Generated from the command tree by \`npm run gen-docs\` (or \`rustydb-admin completion\`); do not edit.\n`;

/** Words must be safe unquoted in every shell's word lists. */
function word(w: string): string {
  if (!/^[A-Za-z0-9_.,:/@+=-]+$/.test(w)) throw new Error(`cannot complete "${w}": only letters, digits and _.,:/@+=- are supported in completion words`);
  return w;
}

const flagsOf = (o: DocOption): string[] => [o.short, o.long].filter((x): x is string => x !== null).map(word);
const key = (c: DocCommand): string => c.path.join(' ');

/** What completes after a flag or as an argument. */
type ValueKind = { kind: 'words'; words: string[] } | { kind: 'ids' } | { kind: 'files' };

function optionValue(o: DocOption): ValueKind {
  if (o.choices) return { kind: 'words', words: o.choices.map(word) };
  return isNodeIdValue(o.valueName) ? { kind: 'ids' } : { kind: 'files' };
}

function argumentValue(root: DocCommand, c: DocCommand): ValueKind | null {
  if (key(c) === 'help') return { kind: 'words', words: [...root.subcommands.map((s) => s.name).filter((n) => n !== 'help'), ...Object.keys(HELP_TOPICS)] };
  const a = c.arguments[0];
  if (!a) return null;
  if (a.choices) return { kind: 'words', words: a.choices.map(word) };
  return isNodeIdValue(a.name) ? { kind: 'ids' } : { kind: 'files' };
}

/** The node-id lister, in JavaScript for `node -e` (node is there: rustydb-admin runs on it). */
const IDS_JS = `let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{try{for(const m of JSON.parse(s).members)console.log(m.id)}catch{}})`;

// ---------------------------------------------------------------- bash

function bashValue(v: ValueKind): string {
  if (v.kind === 'words') return `COMPREPLY=($(compgen -W "${v.words.join(' ')}" -- "$cur"))`;
  if (v.kind === 'ids') return `COMPREPLY=($(compgen -W "$(_rustydb_admin_node_ids "\${COMP_WORDS[0]}" "\${conn[@]}")" -- "$cur"))`;
  return 'compopt -o default 2>/dev/null; COMPREPLY=()';
}

function bash(root: DocCommand): string {
  const cmds = allCommands(root);
  const cases = (rows: [string, string][]) => rows.map(([k, v]) => `    '${k}') ${v} ;;`).join('\n');
  const subs = cases(cmds.filter((c) => c.subcommands.length).map((c) => [key(c), `echo "${c.subcommands.map((s) => word(s.name)).join(' ')}"`]));
  const opts = cases(cmds.map((c) => [key(c), `echo "${optionsInScope(root, c.path).flatMap(flagsOf).join(' ')}"`]));
  const valueOpts = cases(
    cmds.map((c) => [key(c), `echo "${optionsInScope(root, c.path).filter((o) => o.valueName).flatMap(flagsOf).join(' ')}"`]),
  );
  // Root options are read anywhere on the line, so their values match at any path.
  const valueRows: string[] = [];
  for (const c of cmds)
    for (const o of c.options.filter((x) => x.valueName)) {
      const v = optionValue(o);
      if (v.kind === 'files') continue;
      const pattern = flagsOf(o).map((f) => (c.path.length ? `'${key(c)} ${f}'` : `*' ${f}'`)).join('|');
      valueRows.push(`    ${pattern}) ${bashValue(v)} ;;`);
    }
  const args = cases(
    cmds.filter((c) => !c.subcommands.length).flatMap((c): [string, string][] => {
      const v = argumentValue(root, c);
      return v ? [[key(c), bashValue(v)]] : [];
    }),
  );
  return `# bash completion for rustydb-admin
${HEADER('#')}# Install: rustydb-admin completion bash > ~/.local/share/bash-completion/completions/rustydb-admin

# Member ids of the cluster ($1: the program, then --endpoint/--context as typed); nothing if unreachable within 2 s.
_rustydb_admin_node_ids() {
  local prog=$1; shift
  local t=()
  command -v timeout >/dev/null 2>&1 && t=(timeout 2)
  "\${t[@]}" "$prog" "$@" cluster status -o json 2>/dev/null </dev/null |
    node -e '${IDS_JS}' 2>/dev/null
}

_rustydb_admin_subcommands() {
  case $1 in
${subs}
  esac
}

_rustydb_admin_options() {
  case $1 in
${opts}
  esac
}

_rustydb_admin_value_options() {
  case $1 in
${valueOpts}
  esac
}

# Sets COMPREPLY for the value of option $2 at command path $1 (default: files).
_rustydb_admin_value() {
  case "$1 $2" in
${valueRows.join('\n')}
    *) ${bashValue({ kind: 'files' })} ;;
  esac
}

# Sets COMPREPLY for an argument of the command at path $1.
_rustydb_admin_arguments() {
  case $1 in
${args}
    *) COMPREPLY=($(compgen -W "$(_rustydb_admin_options "$1")" -- "$cur")) ;;
  esac
}

_rustydb_admin() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local path="" skip="" i w v
  local conn=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -n $skip ]]; then
      [[ $w == "=" ]] || skip=""
      continue
    fi
    case $w in
      --endpoint | --context)
        v=\${COMP_WORDS[i + 1]}
        [[ $v == "=" ]] && v=\${COMP_WORDS[i + 2]}
        conn+=("$w" "$v")
        skip=1
        ;;
      -*)
        [[ " $(_rustydb_admin_value_options "$path") " == *" $w "* ]] && skip=1
        ;;
      *)
        [[ " $(_rustydb_admin_subcommands "$path") " == *" $w "* ]] && path=\${path:+$path }$w
        ;;
    esac
  done
  # --flag=value: bash splits at "=" (COMP_WORDBREAKS).
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]]; then
    prev=\${COMP_WORDS[COMP_CWORD-2]}
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
`;
}

// ---------------------------------------------------------------- zsh

/** A zsh single-quoted `name:description` entry for _describe. */
const zq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const zdesc = (name: string, d: string): string => zq(`${name}:${d.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}`);

function zshValue(v: ValueKind): string {
  if (v.kind === 'words') return `compadd -- ${v.words.join(' ')}`;
  if (v.kind === 'ids') return `local -a ids; ids=(\${(f)"$(_rustydb_admin_node_ids \${words[1]} "\${conn[@]}")"}); compadd -a ids`;
  return '_files';
}

function zsh(root: DocCommand): string {
  const cmds = allCommands(root);
  const cases = (rows: [string, string][]) => rows.map(([k, v]) => `    ${zq(k)}) ${v} ;;`).join('\n');
  const subs = cases(
    cmds.filter((c) => c.subcommands.length).map((c) => [key(c), `reply=(${c.subcommands.map((s) => zdesc(word(s.name), s.description)).join(' ')})`]),
  );
  const opts = cases(
    cmds.map((c) => [key(c), `reply=(${optionsInScope(root, c.path).flatMap((o) => flagsOf(o).map((f) => zdesc(f, o.description))).join(' ')})`]),
  );
  const valueOpts = cases(cmds.map((c) => [key(c), `reply=(${optionsInScope(root, c.path).filter((o) => o.valueName).flatMap(flagsOf).join(' ')})`]));
  const valueRows: string[] = [];
  for (const c of cmds)
    for (const o of c.options.filter((x) => x.valueName)) {
      const v = optionValue(o);
      if (v.kind === 'files') continue;
      const pattern = flagsOf(o).map((f) => (c.path.length ? zq(`${key(c)} ${f}`) : `*${zq(' ' + f)}`)).join('|');
      valueRows.push(`    ${pattern}) ${zshValue(v)} ;;`);
    }
  const args = cases(
    cmds.filter((c) => !c.subcommands.length).flatMap((c): [string, string][] => {
      const v = argumentValue(root, c);
      return v ? [[key(c), zshValue(v)]] : [];
    }),
  );
  return `#compdef rustydb-admin
${HEADER('#')}# Install: rustydb-admin completion zsh > "\${fpath[1]}/_rustydb-admin"

# Member ids of the cluster ($1: the program, then --endpoint/--context as typed); nothing if unreachable within 2 s.
_rustydb_admin_node_ids() {
  local prog=$1; shift
  local -a t
  (( $+commands[timeout] )) && t=(timeout 2)
  $t "$prog" "$@" cluster status -o json 2>/dev/null </dev/null |
    node -e '${IDS_JS}' 2>/dev/null
}

_rustydb_admin_subcommands() {
  reply=()
  case $1 in
${subs}
  esac
}

_rustydb_admin_options() {
  reply=()
  case $1 in
${opts}
  esac
}

_rustydb_admin_value_options() {
  reply=()
  case $1 in
${valueOpts}
  esac
}

_rustydb_admin_value() {
  case "$1 $2" in
${valueRows.join('\n')}
    *) _files ;;
  esac
}

_rustydb_admin_arguments() {
  case $1 in
${args}
    *) _rustydb_admin_options "$1"; _describe -t options option reply ;;
  esac
}

_rustydb-admin() {
  local cmdpath="" skip="" i w v prev=\${words[CURRENT-1]}
  local -a conn reply
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    if [[ -n $skip ]]; then
      skip=""
      continue
    fi
    case $w in
      --endpoint|--context)
        conn+=("$w" "\${words[i+1]}")
        skip=1
        ;;
      --endpoint=*|--context=*)
        conn+=("$w")
        ;;
      -*)
        _rustydb_admin_value_options "$cmdpath"
        (( \${reply[(Ie)$w]} )) && skip=1
        ;;
      *)
        _rustydb_admin_subcommands "$cmdpath"
        (( \${\${reply%%:*}[(Ie)$w]} )) && cmdpath=\${cmdpath:+$cmdpath }$w
        ;;
    esac
  done
  if [[ $PREFIX == -*=* ]]; then
    prev=\${PREFIX%%=*}
    compset -P '*='
    _rustydb_admin_value "$cmdpath" "$prev"
    return
  fi
  _rustydb_admin_value_options "$cmdpath"
  if (( \${reply[(Ie)$prev]} )); then
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
`;
}

// ---------------------------------------------------------------- fish

const fq = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishValue(v: ValueKind): string {
  if (v.kind === 'words') return `-x -a ${fq(v.words.join(' '))}`;
  if (v.kind === 'ids') return `-x -a '(__rustydb_admin_node_ids)'`;
  return '-r -F';
}

function fish(root: DocCommand): string {
  const cmds = allCommands(root);
  const at = (c: DocCommand) => `-n ${fq(`test "(__rustydb_admin_path)" = ${fq(key(c))}`)}`;
  const lines: string[] = [];
  for (const c of cmds) {
    for (const s of c.subcommands) lines.push(`complete -c rustydb-admin ${at(c)} -a ${word(s.name)} -d ${fq(s.description)}`);
    for (const o of c.options) {
      // Root options apply at every path; a command's own only at its path.
      const cond = c.path.length ? `${at(c)} ` : '';
      const spec = [o.short ? `-s ${word(o.short.slice(1))}` : '', o.long ? `-l ${word(o.long.slice(2))}` : ''].filter(Boolean).join(' ');
      lines.push(`complete -c rustydb-admin ${cond}${spec}${o.valueName ? ' ' + fishValue(optionValue(o)) : ''} -d ${fq(o.description)}`);
    }
    if (!c.subcommands.length) {
      const v = argumentValue(root, c);
      if (v && v.kind !== 'files') lines.push(`complete -c rustydb-admin ${at(c)} ${fishValue(v)}`);
      if (v?.kind === 'files') lines.push(`complete -c rustydb-admin ${at(c)} -F`);
    }
  }
  const subCases = cmds
    .filter((c) => c.subcommands.length)
    .map((c) => `        case ${fq(key(c))}\n            echo ${c.subcommands.map((s) => word(s.name)).join(' ')}`)
    .join('\n');
  const valueCases = cmds
    .map((c) => `        case ${fq(key(c))}\n            echo ${optionsInScope(root, c.path).filter((o) => o.valueName).flatMap(flagsOf).join(' ')}`)
    .join('\n');
  return `# fish completion for rustydb-admin
${HEADER('#')}# Install: rustydb-admin completion fish > ~/.config/fish/completions/rustydb-admin.fish

function __rustydb_admin_subcommands
    switch $argv[1]
${subCases}
    end
end

function __rustydb_admin_value_options
    switch $argv[1]
${valueCases}
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
    $t $words[1] $conn cluster status -o json 2>/dev/null </dev/null | node -e '${IDS_JS}' 2>/dev/null
end

complete -c rustydb-admin -f
${lines.join('\n')}
`;
}

/** The completion script for `shell`, generated from the tree under `root` (the program). */
export function completionScript(shell: Shell, root: DocCommand): string {
  return shell === 'bash' ? bash(root) : shell === 'zsh' ? zsh(root) : fish(root);
}
