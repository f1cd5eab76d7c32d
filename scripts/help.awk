# scripts/help.awk - reads the CLI's --help texts into tables, for the generators of the
# man pages (gen-man.awk) and the shell completions (gen-completions.awk).
#
# The --help texts are the one source of truth: the generators run the built binary, so a
# page or a completion cannot say something its --help does not. load_commands(bin) runs
# `BIN --version`, `BIN --help`, then `BIN CMD --help` for each command of the "commands:"
# list and `BIN CMD SUB --help` for each literal word after CMD in CMD's usage lines
# (profile report, profile compare). Each help text is cut into paragraphs (blank lines;
# an "exit status" line at column 0 also starts one), and each paragraph is one of
#   usage   "usage: ..." and the lines under it               -> usage[c, i]
#   opts    option lines "  -x, --long ARG   text" or "  --long   text", continued by
#           deeper lines without a dash; a "title:" line may head them -> opt*[c, o]
#   cmds    "commands:" and "  name   summary" lines           -> new commands
#   exit    "exit status: ..." / "The exit status ..."
#   prose   anything else (pre when lines after the first are indented)
# Options written in usage lines as "[--html OUT.html]" or "[-q]" count as options of that
# usage line's command too (profile report has no options paragraph).
#
# Tables (c = command index, 0 = leanpix itself; cpath[c] = "", "convert", "profile report"):
#   ncmd, cpath[c], csummary[c], cparent[c], version
#   nusage[c], usage[c, i]
#   nblock[c], bkind[c, b], btitle[c, b], bn[c, b], bline[c, b, j]
#   nopt[c], oshort[c, o], olong[c, o], oarg[c, o], otext[c, o], oblock[c, o] (0 = usage)
#   nsub[c], subc[c, k] (command index of a subcommand)
#   operands[c]: "files" (operands are paths), "command" (a command line after --), ""
# Written for POSIX awk (Debian's mawk): no gensub, no match() arrays, no {n} intervals.

function help_fail(msg) {
    print "help.awk: " msg > "/dev/stderr"
    exit 1
}

function shell_quote(s) {
    gsub(/'/, "'\\''", s)
    return "'" s "'"
}

# Runs `BIN ARGS` and reads its stdout into HL[1..n]; returns n.
function read_command(bin, args,    cmd, n, line) {
    cmd = shell_quote(bin) " " args " 2>/dev/null"
    n = 0
    while ((cmd | getline line) > 0) {
        if (line ~ /\t/)
            help_fail("`" cmd "` prints a tab: the help layout is spaces only")
        HL[++n] = line
    }
    close(cmd)
    return n
}

function add_command(path, summary, parent,    c) {
    c = ncmd++
    cpath[c] = path
    csummary[c] = summary
    cparent[c] = parent
    nusage[c] = 0; nblock[c] = 0; nopt[c] = 0; nsub[c] = 0; operands[c] = ""
    if (parent >= 0)
        subc[parent, nsub[parent]++] = c
    return c
}

function load_commands(bin,    n, c, i, k, w, words, nw, prefix, seen) {
    ncmd = 0
    if (read_command(bin, "--version") < 1)
        help_fail(bin " --version printed nothing")
    version = HL[1]
    sub(/^[^ ]* /, "", version)
    add_command("", "", -1)
    for (c = 0; c < ncmd; c++) {
        n = read_command(bin, (cpath[c] == "" ? "" : cpath[c] " ") "--help")
        if (n < 1)
            help_fail(bin " " cpath[c] " --help printed nothing")
        parse_help(c, n)
        # subcommands named in the usage lines: "leanpix profile report RUN.json ..."
        prefix = "leanpix" (cpath[c] == "" ? "" : " " cpath[c])
        for (i = 1; i <= nusage[c]; i++) {
            if (index(usage[c, i], prefix " ") != 1)
                continue
            nw = split(substr(usage[c, i], length(prefix) + 2), words, " ")
            w = words[1]
            if (cpath[c] != "" && w ~ /^[a-z][a-z0-9-]*$/ && !((c, w) in seen)) {
                seen[c, w] = 1
                add_command(cpath[c] " " w, "", c)
            }
        }
        if (csummary[c] == "" && cpath[c] != "")
            csummary[c] = first_clause(c)
    }
}

# A subcommand without a line in a "commands:" list is summed up by the start of its
# description: up to the first period, comma or parenthesis.
function first_clause(c,    b, s) {
    for (b = 1; b <= nblock[c]; b++)
        if (bkind[c, b] == "prose") {
            s = bline[c, b, 1]
            sub(/(\. |\.$|, | \().*/, "", s)
            gsub(/`/, "", s)
            return tolower(substr(s, 1, 1)) substr(s, 2)
        }
    return ""
}

function is_blank(s) { return s ~ /^[ ]*$/ }
function is_opt_line(s) { return s ~ /^ +-[A-Za-z0-9?-]/ }
function starts_exit(s) { return tolower(s) ~ /^(the )?exit status/ }

function parse_help(c, n,    i, np) {
    i = 1
    while (i <= n) {
        if (is_blank(HL[i])) { i++; continue }
        np = 0
        do {
            PL[++np] = HL[i++]
        } while (i <= n && !is_blank(HL[i]) && !starts_exit(HL[i]))
        classify(c, 1, np)
    }
}

function new_block(c, kind, title,    b) {
    b = ++nblock[c]
    bkind[c, b] = kind
    btitle[c, b] = title
    bn[c, b] = 0
    return b
}

function block_line(c, b, s) { bline[c, b, ++bn[c, b]] = s }

# Classifies the paragraph PL[from..to].
function classify(c, from, to,    first, title, b, j, name, s) {
    first = PL[from]
    if (first ~ /^usage:/) {
        for (j = from; j <= to; j++) {
            s = PL[j]
            sub(/^usage:/, "", s)
            sub(/^ +/, "", s)
            usage[c, ++nusage[c]] = s
            usage_options(c, s)
        }
        usage_operands(c)
        return
    }
    if (first ~ /^[^ ].*:$/ && to > from && is_opt_line(PL[from + 1])) {
        title = first
        sub(/:$/, "", title)
        options_block(c, title, from + 1, to)
        return
    }
    if (is_opt_line(first)) {
        options_block(c, "", from, to)
        return
    }
    if (first ~ /^[^ ].*:$/ && to > from && PL[from + 1] ~ /^  [a-z][a-z0-9-]*  +[^ ]/) {
        for (j = from + 1; j <= to; j++) {
            name = PL[j]
            sub(/^ +/, "", name)
            s = name
            sub(/ .*/, "", name)
            sub(/^[^ ]* +/, "", s)
            if (c == 0)
                add_command(name, s, c)
        }
        b = new_block(c, "cmds", substr(first, 1, length(first) - 1))
        return
    }
    b = new_block(c, starts_exit(first) ? "exit" : "prose", "")
    for (j = from; j <= to; j++) {
        if (j > from && PL[j] ~ /^ / && bkind[c, b] == "prose")
            bkind[c, b] = "pre"
        block_line(c, b, PL[j])
    }
}

# Option lines PL[from..to] under a title ("" when none).
function options_block(c, title, from, to,    b, j, s, o) {
    b = new_block(c, "opts", title)
    o = -1
    for (j = from; j <= to; j++) {
        s = PL[j]
        if (is_opt_line(s) && parse_option(c, b, s)) {
            o = nopt[c] - 1
            continue
        }
        if (s ~ /^ / && o >= 0) {
            sub(/^ +/, "", s)
            otext[c, o] = otext[c, o] (otext[c, o] == "" ? "" : " ") s
            continue
        }
        # a line at column 0 ends the options: the rest is prose
        classify(c, j, to)
        return
    }
}

# "  -x, --long ARG   text": returns 1 when s is an option line.
function parse_option(c, b, s,    short, long, arg, o, k) {
    sub(/^ +/, "", s)
    short = ""; long = ""; arg = ""
    if (s ~ /^-[A-Za-z0-9?], --/) {
        short = substr(s, 1, 2)
        s = substr(s, 5)
    } else if (s ~ /^-[A-Za-z0-9?]( |$)/) {
        short = substr(s, 1, 2)
        s = substr(s, 3)
    }
    if (match(s, /^--[A-Za-z0-9][A-Za-z0-9-]*/)) {
        long = substr(s, 1, RLENGTH)
        s = substr(s, RLENGTH + 1)
    }
    if (short == "" && long == "")
        return 0
    # the argument: one space (or '=') and a name starting upper-case ("V", "FILE", "HOST:PORT")
    if (match(s, /^[ =][A-Z<][^ ]*/)) {
        arg = substr(s, 2, RLENGTH - 1)
        s = substr(s, RLENGTH + 1)
    }
    sub(/^ +/, "", s)
    o = nopt[c]++
    # an option the usage line showed as "[--html OUT.html]" is described here: one entry
    for (k = 0; k < o; k++)
        if (oblock[c, k] == 0 && ((long != "" && olong[c, k] == long) || (short != "" && oshort[c, k] == short))) {
            o = k
            nopt[c]--
            break
        }
    oshort[c, o] = short
    olong[c, o] = long
    oarg[c, o] = arg
    otext[c, o] = s
    oblock[c, o] = b
    return 1
}

# "[--html OUT.html]" and "[-q]" in a usage line of this very command.
function usage_options(c, s,    prefix, rest, inner, short, long, arg, k, parts, np) {
    prefix = "leanpix" (cpath[c] == "" ? "" : " " cpath[c])
    if (index(s, prefix " ") != 1)
        return
    rest = substr(s, length(prefix) + 1)
    if (rest ~ /^ [a-z]/)
        return  # a subcommand's usage line
    while (match(rest, /\[-[^]]*\]/)) {
        inner = substr(rest, RSTART + 1, RLENGTH - 2)
        rest = substr(rest, RSTART + RLENGTH)
        np = split(inner, parts, " ")
        short = ""; long = ""; arg = ""
        if (parts[1] ~ /^--[A-Za-z0-9][A-Za-z0-9-]*$/) long = parts[1]
        else if (parts[1] ~ /^-[A-Za-z0-9]$/) short = parts[1]
        else continue
        if (np >= 2) arg = parts[2]
        if (has_option(c, short != "" ? short : long))
            continue
        k = nopt[c]++
        oshort[c, k] = short; olong[c, k] = long; oarg[c, k] = arg
        otext[c, k] = ""; oblock[c, k] = 0
    }
}

function has_option(c, name,    o) {
    for (o = 0; o < nopt[c]; o++)
        if (oshort[c, o] == name || olong[c, o] == name)
            return 1
    return 0
}

# What the operands of command c are, from its usage lines: "-- CMD" makes a command line,
# upper-case words (IN, OUT, INPUTS..., RUN.json) make paths.
function usage_operands(c,    i, s, prefix, words, nw, k, w) {
    prefix = "leanpix" (cpath[c] == "" ? "" : " " cpath[c])
    for (i = 1; i <= nusage[c]; i++) {
        s = usage[c, i]
        if (index(s, prefix " ") != 1 && s != prefix)
            continue
        s = substr(s, length(prefix) + 1)
        if (s ~ / -- [A-Z]/) {
            operands[c] = "command"
            continue
        }
        gsub(/\[[^]]*\]/, "", s)  # options and optional parts
        nw = split(s, words, " ")
        for (k = 1; k <= nw; k++) {
            w = words[k]
            if (k == 1 && w ~ /^[a-z]/)
                break  # a subcommand's line
            if (w ~ /^[A-Z][A-Za-z0-9_.]*(\.\.\.)?$/ && w != "COMMAND" && operands[c] == "")
                operands[c] = "files"
        }
    }
}

# What an option's argument completes to: "values W1 W2..." when the text lists words
# separated by '|' (avif|jpeg|webp|png; "8|10, PNG 8|16" gives 8 10 16; WxH, #rrggbb are
# placeholders and left out), "dir" for DIR, "file" for FILE/OUT/names with a dot,
# "pid" for PID, "any" otherwise, "" when the option takes no argument.
function arg_kind(c, o,    arg, text, n, k, words, alts, na, j, w, vals, seen) {
    arg = oarg[c, o]
    if (arg == "")
        return ""
    text = otext[c, o]
    n = split(text, words, " ")
    vals = ""
    for (k = 1; k <= n; k++) {
        if (index(words[k], "|") == 0)
            continue
        na = split(words[k], alts, "|")
        for (j = 1; j <= na; j++) {
            w = alts[j]
            sub(/^[(]+/, "", w)
            sub(/[:,;.)]+$/, "", w)
            if (w ~ /^[a-z0-9][a-z0-9._-]*$/ && !(w in seen)) {
                seen[w] = 1
                vals = vals " " w
            }
        }
    }
    if (vals != "")
        return "values" vals
    if (arg ~ /DIR/) return "dir"
    if (arg ~ /FILE|OUT|PATH|\./) return "file"
    if (arg == "PID") return "pid"
    return "any"
}

# "profile report" -> "profile_report" (names of shell functions)
function ident(path) {
    gsub(/[ -]/, "_", path)
    return path
}
