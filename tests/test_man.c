/*
 * test_man.c - the man pages and the bash/zsh completions say what `--help` says.
 *
 * The build writes them from the built CLI's --help texts (scripts/gen-man.sh,
 * scripts/gen-completions.sh) into BUILD/man/man1 and BUILD/completions. This test reads
 * the --help texts itself, with its own small parser (an option is a help line that starts
 * with spaces and a dash, or a "[-x ...]" in a usage line of the command), and checks that
 *  - each page renders with groff without a warning, lists every option of its command
 *    (and the options of its subcommands), and carries `leanpix --version`'s version;
 *  - what the build wrote is what the generators write now (no stale page or completion);
 *  - the bash completion, called as bash calls it (COMP_WORDS, COMP_CWORD), offers every
 *    command, every option of each command, the values a help line lists (avif|jpeg|...),
 *    paths for operands and FILE/DIR values, and commands after `profile --`;
 *  - zsh parses the zsh completion and it names every option; zsh's completion system,
 *    run in a pseudo-terminal, offers every command, option and listed value;
 *  - `cmake --install` puts them where man, bash-completion and zsh look.
 * BUILD is LP_BUILD_DIR, else the directory of LP_BIN.
 */
#include "testutil.h"

#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#define BIG (256 * 1024)
#define MAX_OPTS 256
#define MAX_CMDS 16

typedef struct help_option {
    char name[64];
    bool listed;  /* on an option line (not only in a usage line) */
    char values[256];  /* "a b c" when its text starts with a|b|c, else "" */
} help_option;

typedef struct command {
    char path[64];  /* "" (leanpix), "convert", "profile report" */
    help_option opts[MAX_OPTS];
    int nopts;
    char subs[8][32];
    int nsubs;
} command;

static command cmds[MAX_CMDS];
static int ncmds;
static char build_dir[4096];

static const char *src_dir(void)
{
    const char *s = getenv("LP_SOURCE_DIR");
    return s && *s ? s : "..";
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_option(command *c, const char *name, size_t len, bool listed, const char *text)
{
    if (len == 0 || len >= sizeof c->opts[0].name)
        return;
    for (int i = 0; i < c->nopts; i++)
        if (strlen(c->opts[i].name) == len && !strncmp(c->opts[i].name, name, len)) {
            c->opts[i].listed |= listed;
            return;
        }
    assert_true(c->nopts < MAX_OPTS);
    help_option *o = &c->opts[c->nopts++];
    memcpy(o->name, name, len);
    o->name[len] = '\0';
    o->listed = listed;
    o->values[0] = '\0';
    /* "avif|jpeg|webp|png (default ...)": the text's first word lists the values */
    if (text) {
        size_t w = strcspn(text, " ");
        if (memchr(text, '|', w) && w < sizeof o->values) {
            for (size_t k = 0; k < w; k++)
                o->values[k] = text[k] == '|' ? ' ' : text[k];
            o->values[w] = '\0';
            size_t n = strlen(o->values);
            while (n && strchr(":,;", o->values[n - 1]))
                o->values[--n] = '\0';
            for (size_t k = 0; k < n; k++)
                if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789 ", o->values[k]))
                    o->values[0] = '\0';  /* placeholders (WxH): not a list of words */
        }
    }
}

/* One option line: "  -x, --long ARG   text". */
static void parse_option_line(command *c, const char *line)
{
    const char *p = line + strspn(line, " ");
    const char *names[2] = {0};
    size_t lens[2] = {0};
    int n = 0;
    while (*p == '-' && n < 2) {
        size_t len = strcspn(p, " ,=");
        names[n] = p;
        lens[n++] = len;
        p += len;
        if (*p != ',')
            break;
        p += 1 + strspn(p + 1, " ");
    }
    /* the text starts after the argument name and two or more spaces */
    const char *text = strstr(p, "  ");
    text = text ? text + strspn(text, " ") : NULL;
    for (int i = 0; i < n; i++)
        add_option(c, names[i], lens[i], true, text);
}

/* "[--html OUT.html]" and "[-q]" of a usage line of this command (not of a subcommand). */
static void parse_usage_line(command *c, const char *line)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "leanpix%s%.63s ", *c->path ? " " : "", c->path);
    if (strncmp(line, prefix, strlen(prefix)))
        return;
    const char *rest = line + strlen(prefix);
    if (*rest >= 'a' && *rest <= 'z') {
        /* a subcommand's usage line: "leanpix profile report RUN.json" */
        size_t len = strcspn(rest, " ");
        if (*c->path && c->nsubs < 8 && len < sizeof c->subs[0]) {
            bool seen = false;
            for (int i = 0; i < c->nsubs; i++)
                seen |= strlen(c->subs[i]) == len && !strncmp(c->subs[i], rest, len);
            if (!seen) {
                memcpy(c->subs[c->nsubs], rest, len);
                c->subs[c->nsubs++][len] = '\0';
            }
        }
        return;
    }
    for (const char *b = strstr(rest, "[-"); b; b = strstr(b + 1, "[-"))
        add_option(c, b + 1, strcspn(b + 1, " ]"), false, NULL);
}

static char *help_text(const char *path)
{
    char *buf = malloc(BIG);
    assert_non_null(buf);
    int rc = lpt_run_capture(buf, BIG, "'%s' %s --help", lpt_bin(), path);
    assert_int_equal(rc, 0);
    return buf;
}

static void read_command(command *c)
{
    char *help = help_text(c->path);
    bool in_usage = false, in_commands = false;
    for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "usage:", 6)) {
            in_usage = true;
            line += 6 + strspn(line + 6, " ");
        } else if (line[0] != ' ') {
            in_usage = false;
            in_commands = !strcmp(line, "commands:");
        }
        if (in_usage) {
            parse_usage_line(c, line + strspn(line, " "));
        } else if (in_commands && line[0] == ' ' && c->nsubs < 8) {
            /* "  convert   re-encode one image ..." */
            const char *name = line + strspn(line, " ");
            size_t len = strcspn(name, " ");
            memcpy(c->subs[c->nsubs], name, len);
            c->subs[c->nsubs++][len] = '\0';
        } else if (line[0] == ' ' && line[strspn(line, " ")] == '-') {
            parse_option_line(c, line);
        }
    }
    free(help);
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("LP_BUILD_DIR");
    if (b && *b) {
        snprintf(build_dir, sizeof build_dir, "%s", b);
    } else {
        char bin[4096];
        snprintf(bin, sizeof bin, "%s", lpt_bin());
        snprintf(build_dir, sizeof build_dir, "%s", dirname(bin));
    }
    /* leanpix, its commands, and their subcommands (from the usage lines) */
    ncmds = 1;
    memset(&cmds[0], 0, sizeof cmds[0]);
    for (int i = 0; i < ncmds; i++) {
        read_command(&cmds[i]);
        for (int s = 0; s < cmds[i].nsubs && ncmds < MAX_CMDS; s++) {
            command *sub = &cmds[ncmds++];
            memset(sub, 0, sizeof *sub);
            snprintf(sub->path, sizeof sub->path, "%.31s%s%.31s", cmds[i].path, *cmds[i].path ? " " : "",
                     cmds[i].subs[s]);
        }
    }
    return 0;
}

/* --help fits a terminal of 80 columns (tools/cli.h: CLI_HELP_COLUMNS): option texts wrap
 * under their first line, and the man pages' NAME lines come from the command summaries. */
static void help_fits_80_columns(void **state)
{
    (void)state;
    for (int i = 0; i < ncmds; i++) {
        char *help = help_text(cmds[i].path);
        for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
            int cols = 0;
            for (const char *p = line; *p; p++)
                cols += ((unsigned char)*p & 0xC0) != 0x80;  /* UTF-8: one per character */
            if (cols > 80)
                fail_msg("leanpix %s --help: a line of %d columns: %s", cmds[i].path, cols, line);
        }
        free(help);
    }
}

static void require_generated(void)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/man/man1", build_dir);
    if (!is_dir(dir)) {
        fprintf(stderr, "SKIP: %s is absent (built with -DLP_MAN=OFF?)\n", dir);
        skip();
    }
}

/* leanpix(1) for "", leanpix-convert(1) for "convert"; a subcommand is in its parent's page */
static const char *page_of(const command *c, char *buf, size_t size)
{
    size_t len = strcspn(c->path, " ");
    snprintf(buf, size, "%s/man/man1/leanpix%s%.*s.1", build_dir, len ? "-" : "", (int)len, c->path);
    return buf;
}

/* the page as text, lines long enough that no option tag wraps */
static char *render(const char *page)
{
    char *out = malloc(BIG);
    assert_non_null(out);
    int rc = lpt_run_capture(out, BIG, "groff -man -Tascii -P-c -P-b -P-u -rLL=250n '%s'", page);
    assert_int_equal(rc, 0);
    return out;
}

/* name as a whole word of text (not the start of a longer option) */
static bool has_word(const char *text, const char *name, bool at_line_start)
{
    size_t len = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        char after = p[len];
        if ((after >= 'a' && after <= 'z') || (after >= '0' && after <= '9') || after == '-')
            continue;
        if (p > text && (p[-1] == '-' || (p[-1] >= 'a' && p[-1] <= 'z')))
            continue;
        if (!at_line_start)
            return true;
        /* an option tag: the line starts with it, or with "-x, " before it */
        const char *bol = p;
        while (bol > text && bol[-1] != '\n')
            bol--;
        bol += strspn(bol, " ");
        if (bol == p || (p - bol == 4 && bol[0] == '-' && bol[2] == ','))
            return true;
    }
    return false;
}

static void pages_render_without_warnings(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("groff");
    require_generated();
    char page[4300], out[8192];
    for (int i = 0; i < ncmds; i++) {
        page_of(&cmds[i], page, sizeof page);
        assert_true(lpt_file_exists(page));
        int rc = lpt_run_capture(out, sizeof out, "groff -man -Tutf8 -ww -z '%s'", page);
        if (rc != 0 || out[0])
            fail_msg("%s: groff says: %s", page, out);
    }
}

static void pages_list_every_option(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("groff");
    require_generated();
    char page[4300];
    for (int i = 0; i < ncmds; i++) {
        char *text = render(page_of(&cmds[i], page, sizeof page));
        for (int o = 0; o < cmds[i].nopts; o++) {
            const help_option *opt = &cmds[i].opts[o];
            /* an option line of --help is an option tag on the page; one of a usage line is
             * in the synopsis */
            if (!has_word(text, opt->name, opt->listed))
                fail_msg("%s does not list %s of `leanpix %s --help`", page, opt->name, cmds[i].path);
        }
        for (int s = 0; s < cmds[i].nsubs; s++)
            if (!has_word(text, cmds[i].subs[s], false))
                fail_msg("%s does not name the command %s", page, cmds[i].subs[s]);
        free(text);
    }
}

static void pages_carry_the_version(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("groff");
    require_generated();
    char version[256], page[4300];
    assert_int_equal(lpt_run_capture(version, sizeof version, "'%s' --version", lpt_bin()), 0);
    version[strcspn(version, "\n")] = '\0';
    assert_true(!strncmp(version, "leanpix ", 8));
    for (int i = 0; i < ncmds; i++) {
        char *text = render(page_of(&cmds[i], page, sizeof page));
        /* the footer: "leanpix 0.1.0   ...   LEANPIX-CONVERT(1)" */
        size_t n = strlen(text);
        while (n && text[n - 1] == '\n')
            text[--n] = '\0';
        const char *footer = strrchr(text, '\n');
        footer = footer ? footer + 1 : text;
        if (strncmp(footer, version, strlen(version)) || footer[strlen(version)] != ' ')
            fail_msg("%s: footer '%s' does not carry '%s'", page, footer, version);
        free(text);
    }
}

/* a file without its .TH line (its date is SOURCE_DATE_EPOCH's, which may differ) */
static char *without_th(const char *path)
{
    size_t size = 0;
    uint8_t *data = lpt_read_file(path, &size);
    if (!data)
        fail_msg("cannot read %s", path);
    char *text = realloc(data, size + 1);
    assert_non_null(text);
    text[size] = '\0';
    char *th = strstr(text, "\n.TH ");
    if (th) {
        char *end = strchr(th + 1, '\n');
        memmove(th, end ? end : th + strlen(th), strlen(end ? end : th + strlen(th)) + 1);
    }
    return text;
}

static void generated_files_are_current(void **state)
{
    (void)state;
    require_generated();
    const char *tmp = lpt_tmpdir();
    assert_int_equal(lpt_run("rm -rf '%s/man1' '%s/completions'", tmp, tmp), 0);
    assert_int_equal(lpt_run("sh '%s/scripts/gen-man.sh' '%s' '%s/man1'", src_dir(), lpt_bin(), tmp), 0);
    assert_int_equal(lpt_run("sh '%s/scripts/gen-completions.sh' '%s' '%s/completions'", src_dir(),
                             lpt_bin(), tmp), 0);
    char fresh[4300], built[4300];
    for (int i = 0; i < ncmds; i++) {
        page_of(&cmds[i], built, sizeof built);
        snprintf(fresh, sizeof fresh, "%s/man1/%s", tmp, strrchr(built, '/') + 1);
        char *a = without_th(fresh), *b = without_th(built);
        if (strcmp(a, b))
            fail_msg("%s differs from what scripts/gen-man.sh writes now (%s): rebuild", built, fresh);
        free(a);
        free(b);
    }
    static const char *const completions[] = {"leanpix", "_leanpix"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(built, sizeof built, "%s/completions/%s", build_dir, completions[i]);
        snprintf(fresh, sizeof fresh, "%s/completions/%s", tmp, completions[i]);
        if (lpt_run("cmp -s '%s' '%s'", built, fresh) != 0)
            fail_msg("%s differs from what scripts/gen-completions.sh writes now (%s)", built, fresh);
    }
}

/* What the bash completion offers for the words (the last one is being typed), one a
 * line, run in dir. */
static char *bash_complete(const char *dir, const char *words)
{
    char *out = malloc(BIG);
    assert_non_null(out);
    int rc = lpt_run_capture(out, BIG,
                             "cd '%s' && bash --norc --noprofile -c 'source \"%s/completions/leanpix\"; "
                             "COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
                             "COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; _leanpix; "
                             "printf \"%%s\\n\" \"${COMPREPLY[@]}\"'",
                             dir, build_dir, words);
    if (rc != 0)
        fail_msg("bash completion of (%s) failed: %s", words, out);
    return out;
}

static bool offers(const char *reply, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = reply; (p = strstr(p, word)); p++)
        if ((p == reply || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
            return true;
    return false;
}

static void bash_completion_offers_every_option(void **state)
{
    (void)state;
    require_generated();
    char words[256];
    for (int i = 0; i < ncmds; i++) {
        /* options: "leanpix CMD -" */
        snprintf(words, sizeof words, "leanpix %.63s \"-\"", cmds[i].path);
        char *reply = bash_complete(lpt_tmpdir(), words);
        for (int o = 0; o < cmds[i].nopts; o++)
            if (!offers(reply, cmds[i].opts[o].name))
                fail_msg("`leanpix %s -<TAB>` does not offer %s; it offers:\n%s", cmds[i].path,
                         cmds[i].opts[o].name, reply);
        free(reply);
        /* subcommands: "leanpix CMD ''" */
        if (cmds[i].nsubs) {
            snprintf(words, sizeof words, "leanpix %.63s \"\"", cmds[i].path);
            reply = bash_complete(lpt_tmpdir(), words);
            for (int s = 0; s < cmds[i].nsubs; s++)
                if (!offers(reply, cmds[i].subs[s]))
                    fail_msg("`leanpix %s <TAB>` does not offer %s; it offers:\n%s", cmds[i].path,
                             cmds[i].subs[s], reply);
            free(reply);
        }
        /* values the help lists: "--format avif|jpeg|webp|png" */
        for (int o = 0; o < cmds[i].nopts; o++) {
            const help_option *opt = &cmds[i].opts[o];
            if (!opt->values[0])
                continue;
            snprintf(words, sizeof words, "leanpix %.63s %.63s \"\"", cmds[i].path, opt->name);
            reply = bash_complete(lpt_tmpdir(), words);
            char values[256];
            snprintf(values, sizeof values, "%s", opt->values);
            for (char *v = strtok(values, " "); v; v = strtok(NULL, " "))
                if (!offers(reply, v))
                    fail_msg("`leanpix %s %s <TAB>` does not offer %s; it offers:\n%s",
                             cmds[i].path, opt->name, v, reply);
            free(reply);
        }
    }
}

static void bash_completion_of_paths_and_commands(void **state)
{
    (void)state;
    require_generated();
    const char *dir = lpt_path("paths");
    assert_int_equal(lpt_run("rm -rf '%s' && mkdir -p '%s/photos' && touch '%s/photo.jpg' '%s/photo 2.jpg'",
                             dir, dir, dir, dir), 0);
    char *reply = bash_complete(dir, "leanpix convert \"ph\"");
    assert_true(offers(reply, "photo.jpg"));
    assert_true(offers(reply, "photo 2.jpg"));  /* one candidate, not "photo" and "2.jpg" */
    assert_true(offers(reply, "photos"));
    free(reply);
    reply = bash_complete(dir, "leanpix convert --format avif photo.jpg \"\"");
    assert_true(offers(reply, "photo.jpg"));
    free(reply);
    /* a DIR value: directories only */
    reply = bash_complete(dir, "leanpix batch -o \"ph\"");
    assert_true(offers(reply, "photos"));
    assert_false(offers(reply, "photo.jpg"));
    free(reply);
    /* an option's value is not taken for a subcommand, and --opt=VALUE completes */
    reply = bash_complete(dir, "leanpix convert \"--kernel=lanczos\"");
    assert_true(offers(reply, "--kernel=lanczos3"));
    free(reply);
    /* after `profile --`: a command line */
    reply = bash_complete(dir, "leanpix profile -o run.json -- \"bas\"");
    assert_true(offers(reply, "bash"));
    free(reply);
    /* serve takes no operands: no file names */
    reply = bash_complete(dir, "leanpix serve \"ph\"");
    assert_false(offers(reply, "photo.jpg"));
    free(reply);
}

static void zsh_completion_parses_and_names_every_option(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("zsh");
    require_generated();
    char file[4200], out[8192];
    snprintf(file, sizeof file, "%s/completions/_leanpix", build_dir);
    int rc = lpt_run_capture(out, sizeof out, "zsh -n '%s'", file);
    if (rc != 0)
        fail_msg("zsh -n %s: %s", file, out);
    size_t size = 0;
    char *text = (char *)lpt_read_file(file, &size);
    assert_non_null(text);
    text = realloc(text, size + 1);
    text[size] = '\0';
    /* in a spec: '--lossless[..]', {-f,--format}'[..]', '--csv:OUT.csv:_files', '-q' */
    for (int i = 0; i < ncmds; i++)
        for (int o = 0; o < cmds[i].nopts; o++) {
            const char *name = cmds[i].opts[o].name;
            bool found = false;
            size_t len = strlen(name);
            for (const char *p = strstr(text, name); p && !found; p = strstr(p + 1, name))
                found = p > text && strchr("'{,", p[-1]) && p[len] && strchr("[}:',", p[len]);
            if (!found)
                fail_msg("%s does not name %s of `leanpix %s --help`", file, name, cmds[i].path);
        }
    free(text);
}

/* One command line for zsh's completion and the words it must offer. */
typedef struct zsh_case {
    char line[160];
    char expect[4096];  /* words separated by spaces */
} zsh_case;

static void zsh_case_add(zsh_case *cases, int *n, int max, const char *line, const char *word)
{
    if (*n == 0 || strcmp(cases[*n - 1].line, line)) {
        assert_true(*n < max);
        snprintf(cases[*n].line, sizeof cases[*n].line, "%s", line);
        cases[(*n)++].expect[0] = '\0';
    }
    zsh_case *c = &cases[*n - 1];
    size_t used = strlen(c->expect);
    snprintf(c->expect + used, sizeof c->expect - used, "%s%s", used ? " " : "", word);
}

/* zsh's completion system (tests/helpers/zsh-complete.zsh: one interactive zsh in a
 * pseudo-terminal, build/completions first in its fpath) offers every option of each
 * command, its subcommands, the values its help lists, and a command after `profile --`. */
static void zsh_completion_offers_every_option(void **state)
{
    (void)state;
    LPT_REQUIRE_TOOL("zsh");
    require_generated();
    static zsh_case cases[64];
    int n = 0;
    char line[160];
    for (int i = 0; i < ncmds; i++) {
        const char *sp = *cmds[i].path ? " " : "";
        snprintf(line, sizeof line, "leanpix %.63s%s-", cmds[i].path, sp);
        for (int o = 0; o < cmds[i].nopts; o++)
            zsh_case_add(cases, &n, 64, line, cmds[i].opts[o].name);
        snprintf(line, sizeof line, "leanpix %.63s%s", cmds[i].path, sp);
        for (int s = 0; s < cmds[i].nsubs; s++)
            zsh_case_add(cases, &n, 64, line, cmds[i].subs[s]);
        for (int o = 0; o < cmds[i].nopts; o++) {
            const help_option *opt = &cmds[i].opts[o];
            if (!opt->values[0])
                continue;
            snprintf(line, sizeof line, "leanpix %.63s%s%.63s ", cmds[i].path, sp, opt->name);
            zsh_case_add(cases, &n, 64, line, opt->values);
        }
    }
    zsh_case_add(cases, &n, 64, "leanpix profile -o run.json -- zs", "zsh");

    char cmd[8192];
    int used = snprintf(cmd, sizeof cmd, "zsh -f '%s/tests/helpers/zsh-complete.zsh' '%s/completions' '%s'",
                        src_dir(), build_dir, lpt_tmpdir());
    for (int k = 0; k < n; k++)
        used += snprintf(cmd + used, sizeof cmd - (size_t)used, " '%s'", cases[k].line);
    assert_true(used < (int)sizeof cmd);
    char *out = malloc(BIG);
    assert_non_null(out);
    int rc = lpt_run_capture(out, BIG, "%s", cmd);
    if (rc == 2) {
        fprintf(stderr, "SKIP: zsh has no zsh/zpty module\n");
        free(out);
        skip();
    }
    if (rc != 0)
        fail_msg("zsh completion did not run (exit %d): %s", rc, out);
    /* the candidates of each line, then "<<END>>" */
    char *section = out;
    for (int k = 0; k < n; k++) {
        char *end = strstr(section, "<<END>>\n");
        if (!end)
            fail_msg("zsh: no answer for `%s<TAB>`: %s", cases[k].line, out);
        *end = '\0';
        char words[4096];
        snprintf(words, sizeof words, "%s", cases[k].expect);
        for (char *w = strtok(words, " "); w; w = strtok(NULL, " "))
            if (!offers(section, w))
                fail_msg("zsh: `%s<TAB>` does not offer %s; it offers:\n%s", cases[k].line, w, section);
        section = end + strlen("<<END>>\n");
    }
    free(out);
}

static void install_puts_them_where_tools_look(void **state)
{
    (void)state;
    require_generated();
    LPT_REQUIRE_TOOL("cmake");
    const char *prefix = lpt_path("prefix");
    assert_int_equal(lpt_run("rm -rf '%s'", prefix), 0);
    assert_int_equal(lpt_run("cmake --install '%s' --prefix '%s' >/dev/null", build_dir, prefix), 0);
    char path[4300], out[4400];
    for (int i = 0; i < ncmds; i++) {
        char built[4300];
        page_of(&cmds[i], built, sizeof built);
        snprintf(path, sizeof path, "%s/share/man/man1/%s", prefix, strrchr(built, '/') + 1);
        if (!lpt_file_exists(path))
            fail_msg("cmake --install did not write %s", path);
        if (lpt_have_tool("man")) {
            /* man finds it by name in that tree */
            char name[256];
            snprintf(name, sizeof name, "%s", strrchr(built, '/') + 1);
            name[strlen(name) - 2] = '\0';
            int rc = lpt_run_capture(out, sizeof out, "man -M '%s/share/man' -w %s", prefix, name);
            if (rc != 0 || !strstr(out, path))
                fail_msg("man -M %s/share/man -w %s: %s", prefix, name, out);
        }
    }
    snprintf(path, sizeof path, "%s/share/bash-completion/completions/leanpix", prefix);
    assert_true(lpt_file_exists(path));
    snprintf(path, sizeof path, "%s/share/zsh/vendor-completions/_leanpix", prefix);
    assert_true(lpt_file_exists(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pages_render_without_warnings),
        cmocka_unit_test(pages_list_every_option),
        cmocka_unit_test(pages_carry_the_version),
        cmocka_unit_test(help_fits_80_columns),
        cmocka_unit_test(generated_files_are_current),
        cmocka_unit_test(bash_completion_offers_every_option),
        cmocka_unit_test(bash_completion_of_paths_and_commands),
        cmocka_unit_test(zsh_completion_parses_and_names_every_option),
        cmocka_unit_test(zsh_completion_offers_every_option),
        cmocka_unit_test(install_puts_them_where_tools_look),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
