# tests/helpers/zsh-complete.zsh COMPDIR LINE SCRATCH - what zsh's completion system offers
# for the command line LINE followed by a TAB, with the completion functions of COMPDIR
# first in fpath; one candidate a line on stdout. Used by tests/test_man.c.
#
# An interactive `zsh -f` runs in a pseudo-terminal (zsh/zpty) with compinit; compadd is
# wrapped to print every candidate it is given to SCRATCH/candidates, Ctrl-X ends the shell.
# Exit status 2 when zsh/zpty is missing, 3 when the shell did not finish within 10 s.
zmodload zsh/zpty || exit 2
compdir=$1 line=$2 scratch=$3
out=$scratch/candidates
rm -f $out
export TERM=dumb
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT=''; fpath=(${(q)compdir} \$fpath); exec 2>${(q)out}"
zpty -w z "autoload -U compinit && compinit -u -d ${(q)scratch}/zcompdump"
zpty -w z 'compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits; builtin compadd -A hits "$@"; (( $#hits )) || return 1
  print -l -- "<<" $hits ">>" >&2; builtin compadd "$@"; }'
zpty -w z 'zle_done() { print "<<DONE>>" >&2; exit; }; zle -N zle_done; bindkey "^X" zle_done; bindkey "^I" complete-word'
zpty -n -w z "$line"$'\t'
zpty -n -w z $'\C-X'
for i in {1..100}; do
  grep -q '^<<DONE>>$' $out 2>/dev/null && break
  sleep 0.1
done
zpty -d z
grep -q '^<<DONE>>$' $out || exit 3
sed -n '/^<<$/,/^>>$/p' $out | grep -v '^<<$' | grep -v '^>>$'
exit 0
