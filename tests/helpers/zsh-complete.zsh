# tests/helpers/zsh-complete.zsh COMPDIR SCRATCH LINE... - what zsh's completion system
# offers for each command line LINE followed by a TAB, with the completion functions of
# COMPDIR first in fpath: for each LINE, its candidates one a line, then a line "<<END>>".
# Used by tests/test_man.c.
#
# One interactive `zsh -f` runs in a pseudo-terminal (zsh/zpty) with compinit; compadd is
# wrapped to print every candidate it is given to SCRATCH/candidates; Ctrl-X ends a line
# (prints the separator, empties the buffer), Ctrl-Y ends the shell.
# Exit status 2 when zsh/zpty is missing, 3 when the shell did not finish within 20 s.
zmodload zsh/zpty || exit 2
compdir=$1 scratch=$2
shift 2
out=$scratch/candidates
rm -f $out
export TERM=dumb
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT=''; fpath=(${(q)compdir} \$fpath); exec 2>${(q)out}"
zpty -w z "autoload -U compinit && compinit -u -d ${(q)scratch}/zcompdump"
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits; builtin compadd -A hits "$@"; (( $#hits )) || return 1
  print -l -- $hits >&2; builtin compadd "$@"; }'
zpty -w z 'zle_end() { print "<<END>>" >&2; BUFFER=""; }; zle -N zle_end; bindkey "^X" zle_end'
zpty -w z 'zle_done() { print "<<DONE>>" >&2; exit; }; zle -N zle_done; bindkey "^Y" zle_done'
zpty -w z 'bindkey "^I" complete-word; print "<<START>>" >&2'
for line in "$@"; do
  zpty -n -w z "$line"$'\t'$'\C-X'
done
zpty -n -w z $'\C-Y'
for i in {1..200}; do
  grep -q '^<<DONE>>$' $out 2>/dev/null && break
  sleep 0.1
done
zpty -d z
grep -q '^<<DONE>>$' $out || exit 3
awk '/^<<DONE>>$/ { exit } p; /^<<START>>$/ { p = 1 }' $out
exit 0
