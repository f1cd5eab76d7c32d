# scripts/gen-man.awk - writes the man pages leanpix(1) and leanpix-CMD(1) from the CLI's
# --help texts (read by help.awk) and the hand-written sections of man/NAME.1.in.
#
# Variables: bin (the built leanpix), srcdir (man/ with the .in files), outdir, date
# (for .TH; may be empty). Run by scripts/gen-man.sh.
#
# What --help says makes NAME, SYNOPSIS, DESCRIPTION (its prose paragraphs, in order),
# COMMANDS (leanpix(1): the command list; a page of a command with subcommands: each
# subcommand's usage, text and options), OPTIONS (one subsection per titled group) and
# EXIT STATUS, and SEE ALSO names the other pages. A NAME.1.in holds roff under .SH
# headings; each of its sections is printed after the generated text of the same section,
# in the order of `order` below (a heading not in it is an error: a typo would otherwise
# drop the text). So a page says nothing about an option that --help does not.

BEGIN {
    norder = split("NAME|SYNOPSIS|DESCRIPTION|COMMANDS|OPTIONS|EXIT STATUS|ENVIRONMENT|FILES|NOTES|BUGS|EXAMPLES|SEE ALSO", order, "|")
    for (i = 1; i <= norder; i++)
        known[order[i]] = 1
    load_commands(bin)
    for (c = 0; c < ncmd; c++)
        if (c == 0 || cparent[c] == 0)
            write_page(c)
}

function page_name(c) { return cpath[c] == "" ? "leanpix" : "leanpix-" cpath[c] }

# Text for roff: backslashes and dashes escaped (\- is a real minus, the same in every
# output device, and never a line-break point: options stay whole and searchable), a
# leading period or quote made literal, `code` in bold (in_code carries an open one to the
# next line of the paragraph).
function roff(s,    out, k) {
    gsub(/\\/, "\\\\e", s)
    gsub(/-/, "\\\\-", s)
    out = ""
    while ((k = index(s, "`")) > 0) {
        out = out substr(s, 1, k - 1) (in_code ? "\\fR" : "\\fB")
        in_code = !in_code
        s = substr(s, k + 1)
    }
    s = out s
    if (s ~ /^[.']/)
        s = "\\&" s
    return s
}

# roff() of a text that stands alone (an option's text, a title): no `code` left open.
function roff1(s) {
    in_code = 0
    s = roff(s)
    if (in_code) { s = s "\\fR"; in_code = 0 }
    return s
}

# A usage line: the command's own words and options in bold, placeholders in italics.
function synopsis(s,    n, w, k, out, lead, core, tail, ncmdwords, pw) {
    n = split(s, w, " ")
    out = ""
    ncmdwords = 1 + (cur_path == "" ? 0 : split(cur_path, pw, " "))
    for (k = 1; k <= n; k++) {
        core = w[k]
        lead = ""; tail = ""
        while (core ~ /^[[(]/) { lead = lead substr(core, 1, 1); core = substr(core, 2) }
        while (core ~ /([])]|\.\.\.)$/) {
            if (core ~ /\.\.\.$/) { tail = "..." tail; core = substr(core, 1, length(core) - 3) }
            else { tail = substr(core, length(core)) tail; core = substr(core, 1, length(core) - 1) }
        }
        if (k <= ncmdwords || core ~ /^-/ || (k == ncmdwords + 1 && lead == "" && core ~ /^[a-z]/))
            core = "\\fB" roff(core) "\\fR"
        else if (core ~ /^[A-Za-z]/)
            core = "\\fI" roff(core) "\\fR"
        else
            core = roff(core)
        out = out (k > 1 ? " " : "") roff(lead) core roff(tail)
    }
    return out
}

function emit(s) { text[sec] = text[sec] s "\n" }

function emit_paragraph(c, b,    j, s, pre) {
    # prose with indented lines keeps its layout (the routes list); an exit status is filled
    pre = bkind[c, b] == "pre"
    emit(".PP")
    if (pre) emit(".nf")
    in_code = 0
    for (j = 1; j <= bn[c, b]; j++) {
        s = bline[c, b, j]
        if (bkind[c, b] == "exit" && j == 1)
            sub(/^[Ee]xit status: */, "", s)
        if (!pre) sub(/^ +/, "", s)
        s = roff(s)
        if (j == bn[c, b] && in_code) { s = s "\\fR"; in_code = 0 }
        emit(s)
    }
    if (pre) emit(".fi")
}

function option_tag(c, o,    s) {
    s = ""
    if (oshort[c, o] != "") s = "\\fB" roff(oshort[c, o]) "\\fR"
    if (olong[c, o] != "") s = s (s == "" ? "" : ", ") "\\fB" roff(olong[c, o]) "\\fR"
    if (oarg[c, o] != "") s = s " \\fI" roff(oarg[c, o]) "\\fR"
    return s
}

function title_case(s) { return toupper(substr(s, 1, 1)) substr(s, 2) }

# The options of c: one .SS per titled group (a single "options:" group needs none). Options
# only seen in usage lines ([--html OUT.html]) are in the synopsis.
function emit_options(c, ss,    b, o, ngroups, titled, t) {
    ngroups = 0
    for (b = 1; b <= nblock[c]; b++)
        if (bkind[c, b] == "opts") ngroups++
    for (b = 1; b <= nblock[c]; b++) {
        if (bkind[c, b] != "opts")
            continue
        t = btitle[c, b]
        # options without a title after titled groups are the "other options"
        if (t == "" && b > first_titled(c))
            t = "other options"
        titled = t != "" && !(ngroups == 1 && t == "options")
        if (titled) {
            t = roff1(title_case(t))
            gsub(/"/, "\\\\(dq", t)
            emit(ss " \"" t "\"")
        }
        for (o = 0; o < nopt[c]; o++)
            if (oblock[c, o] == b) {
                emit(".TP")
                emit(option_tag(c, o))
                emit(roff1(otext[c, o]))
            }
    }
}

function write_page(c,    name, file, k, s, b, sc, i, body, u, np) {
    name = page_name(c)
    file = outdir "/" name ".1"
    cur_path = cpath[c]
    for (i = 1; i <= norder; i++) { text[order[i]] = ""; extra[order[i]] = "" }
    read_extra(srcdir "/" name ".1.in")

    sec = "NAME"
    s = csummary[c]
    if (c == 0) {
        # "leanpix re-encodes images ..." -> "re-encodes images ..."
        for (b = 1; b <= nblock[c]; b++)
            if (bkind[c, b] == "prose") { s = bline[c, b, 1]; break }
        sub(/^leanpix /, "", s)
        sub(/\.$/, "", s)
    }
    emit(roff(name) " \\- " roff(s))

    sec = "SYNOPSIS"
    emit(".nf")
    for (u = 1; u <= nusage[c]; u++) {
        if (c != 0 && index(usage[c, u], "leanpix " cpath[c] " ") != 1 && usage[c, u] != "leanpix " cpath[c])
            continue
        emit(synopsis(usage[c, u]))
    }
    emit(".fi")

    sec = "DESCRIPTION"
    for (b = 1; b <= nblock[c]; b++)
        if (bkind[c, b] == "prose" || bkind[c, b] == "pre")
            emit_paragraph(c, b)

    sec = "COMMANDS"
    for (k = 0; k < nsub[c]; k++) {
        sc = subc[c, k]
        if (c == 0) {
            emit(".TP")
            emit("\\fB" roff(cpath[sc]) "\\fR")
            emit(roff(csummary[sc]) "; see \\fB" roff(page_name(sc)) "\\fR(1).")
            continue
        }
        emit(".SS \"" roff("leanpix " cpath[sc]) "\"")
        emit(".nf")
        cur_path = cpath[sc]
        for (u = 1; u <= nusage[sc]; u++)
            emit(synopsis(usage[sc, u]))
        cur_path = cpath[c]
        emit(".fi")
        for (b = 1; b <= nblock[sc]; b++)
            if (bkind[sc, b] == "prose" || bkind[sc, b] == "pre" || bkind[sc, b] == "exit")
                emit_paragraph(sc, b)
        emit_options(sc, ".SS")
    }

    sec = "OPTIONS"
    emit_options(c, ".SS")

    sec = "EXIT STATUS"
    for (b = 1; b <= nblock[c]; b++)
        if (bkind[c, b] == "exit")
            emit_paragraph(c, b)

    sec = "SEE ALSO"
    s = ""
    np = 0
    if (c != 0) { s = "\\fBleanpix\\fR(1)"; np++ }
    for (k = 0; k < nsub[0]; k++) {
        sc = subc[0, k]
        if (sc == c) continue
        s = s (np++ ? ", " : "") "\\fB" roff(page_name(sc)) "\\fR(1)"
    }
    emit(s (extra["SEE ALSO"] != "" ? "," : ""))

    # the page
    printf "" > file
    print ".\\\" " name "(1): generated by scripts/gen-man.sh from `" (c == 0 ? "leanpix" : "leanpix " cpath[c]) " --help`" > file
    print ".\\\" and man/" name ".1.in; edit those, not this file." > file
    print ".TH " toupper(roff(name)) " 1 \"" date "\" \"leanpix " roff(version) "\" \"User Commands\"" > file
    print ".nh" > file
    print ".ad l" > file
    for (i = 1; i <= norder; i++) {
        body = text[order[i]] extra[order[i]]
        if (body == "")
            continue
        print ".SH " (order[i] ~ / / ? "\"" order[i] "\"" : order[i]) > file
        printf "%s", body > file
    }
    close(file)
}

# The sections of a hand-written NAME.1.in (roff under .SH headings; comments before them).
function read_extra(path,    line, insec, name) {
    insec = ""
    while ((getline line < path) > 0) {
        if (line ~ /^\.SH /) {
            name = substr(line, 5)
            gsub(/"/, "", name)
            if (!(name in known))
                help_fail(path ": section '" name "' is not one of the page's sections (scripts/gen-man.awk)")
            insec = name
            continue
        }
        if (insec == "") {
            if (line !~ /^\.\\"/ && line !~ /^[ ]*$/)
                help_fail(path ": text before the first .SH")
            continue
        }
        extra[insec] = extra[insec] line "\n"
    }
    close(path)
}

# the first titled group of options of c (a block number; nblock + 1 when none)
function first_titled(c,    b) {
    for (b = 1; b <= nblock[c]; b++)
        if (bkind[c, b] == "opts" && btitle[c, b] != "")
            return b
    return nblock[c] + 1
}
