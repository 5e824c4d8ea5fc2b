/*
 * cmd_view: `optally view add|drop|list`, views declared at run time.
 *
 * NAME
 *     optally view - declare, drop and list the views of a store
 *
 * SYNOPSIS
 *     optally view add NAME --group-by D1,D2,... [--where FILTER]... [--data DIR]
 *     optally view drop NAME [--data DIR]
 *     optally view list [--data DIR] [--format table|json]
 *
 * Invariants:
 *  1. The user types the same command whether or not a consumer runs: when
 *     one holds DIR (its writer lock), the request goes to it over its admin
 *     socket (cli/admin_client.h) and it does the work in its writer thread;
 *     else the store is opened as a maintenance writer here. Either way the
 *     store does the work (ot_store_view_add/drop), in one write transaction.
 *  2. A definition is checked (ot_viewset_check_def) before anything is sent
 *     or opened: a usage error never touches the store.
 *  3. list reads the store only (a read transaction): it never waits for a
 *     consumer, and sees what another process added.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_client.h"
#include "cli.h"
#include "cli_keys.h"
#include "ot_clock.h"
#include "ot_error.h"
#include "ot_json.h"
#include "ot_store.h"
#include "ot_view.h"
#include "progress.h"
#include "store_arg.h"
#include "tally_key.h"
#include "tally_print.h"

#define S_TIMEOUT_MS_DEFAULT 600000L   /* a fill of a large log takes a while */

/* The command line of one view subcommand. */
typedef struct s_args {
    const char *prog;                  /* "optally view add" */
    const char *data;
    const char *admin;                 /* --admin ENDPOINT; NULL: DATA/admin.endpoint */
    const char *curve_secret, *server_key;
    long timeout_ms;
    const char *group_by;              /* --group-by, as written */
    const char *where[OT_VIEW_MAX_FILTERS];
    size_t nwhere;
    bool json, quiet;
} s_args;

static void
s_view_help(FILE *f)
{
    fprintf(f,
"usage: optally view add NAME --group-by D1,D2,... [--where FILTER]... [--data DIR]\n"
"       optally view drop NAME [--data DIR]\n"
"       optally view list [--data DIR] [--format table|json]\n"
"\n"
"Views declared at run time: a name, the dimensions its tallies are grouped by\n"
"(in key order) and filters. Keys are NAME/VALUE/VALUE..., as for the built-in\n"
"views; `optally query --view NAME`, `subscribe --view NAME`, explain and\n"
"history take them. `optally view add --help` tells the dimensions and filters.\n"
"\n"
"exit codes: 0 ok; 2 store missing or unreadable, the consumer did not answer;\n"
"64 usage error (bad name or definition, a name taken, an unknown view).\n");
}

static void
s_add_help(FILE *f)
{
    fprintf(f,
"usage: optally view add NAME --group-by D1,D2,... [--where FILTER]... [--data DIR]\n"
"                        [--admin ENDPOINT] [--curve-secret FILE] [--server-key FILE]\n"
"                        [--timeout-ms N] [--quiet]\n"
"\n"
"Declare the view NAME and fill its tallies from the whole log (observed and\n"
"reported), in ONE write transaction: it appears filled or not at all. When a\n"
"consumer holds DIR, it does the work without stopping (its admin socket, found\n"
"in DIR/admin.endpoint); ingest waits while the fill runs. On a stopped store the\n"
"work is done here, with progress on a terminal.\n"
"\n"
"  NAME              1..64 of A-Z a-z 0-9 _ . -; not a built-in view's name (a\n"
"                    store holds at most 64 views, the 5 built-in ones included)\n"
"  --group-by D,...  1..%d dimensions, in key order: country, admin1,\n"
"                    partner_force, source, type (PARTNERED...), year (2024),\n"
"                    quarter (2024-Q1), month (2024-01), week (ISO 8601, 2024-W05),\n"
"                    day (2024-01-31), incident, granularity (OPERATION/AGGREGATE)\n"
"  --where FILTER    dim=value, dim!=value, dim=a|b (any of), occurred_on>=DATE,\n"
"                    occurred_on<=DATE; up to %d, all must hold. An aggregate\n"
"                    passes when its whole scope does (one country, a span in\n"
"                    one month...)\n"
"  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
"  --admin ENDPOINT  the consumer's admin socket (default: DIR/admin.endpoint)\n"
"  --curve-secret FILE, --server-key FILE\n"
"                    client keys for a CURVE consumer, as for produce (env\n"
"                    OPTALLY_CURVE_SECRET, OPTALLY_SERVER_KEY)\n"
"  --timeout-ms N    how long to wait for the consumer (default %ld)\n"
"  --quiet           no progress display\n"
"\n"
"Prints \"view NAME added: N log records folded in X s\".\n"
"Example: optally view add syria_pf_month --group-by partner_force,month \\\n"
"           --where country=SY --where source=CENTCOM\n"
"\n"
"exit codes: 0 added; 2 store missing or unreadable, no answer from the\n"
"consumer; 64 usage error (bad name, unknown dimension, bad filter, name taken).\n",
            OT_VIEW_MAX_FIELDS, OT_VIEW_MAX_FILTERS, S_TIMEOUT_MS_DEFAULT);
}

static void
s_drop_help(FILE *f)
{
    fprintf(f,
"usage: optally view drop NAME [--data DIR] [--admin ENDPOINT] [--curve-secret FILE]\n"
"                         [--server-key FILE] [--timeout-ms N]\n"
"\n"
"Drop the declared view NAME and every tally of it, in one write transaction\n"
"(through the consumer when one holds DIR, as view add). Built-in views cannot\n"
"be dropped.\n"
"\n"
"exit codes: 0 dropped; 2 store missing or unreadable, no answer from the\n"
"consumer; 64 usage error (no such view, a built-in view, a bad name).\n");
}

static void
s_list_help(FILE *f)
{
    fprintf(f,
"usage: optally view list [--data DIR] [--format table|json]\n"
"\n"
"The views of the store: the built-in ones first, then the declared ones.\n"
"JSON Lines rows: {\"name\":..,\"group_by\":[..],\"where\":[..],\"builtin\":bool}.\n"
"Reads the store only (a read transaction), beside a running consumer.\n"
"\n"
"  --data DIR        data directory (default ./optally-data; env OPTALLY_DATA)\n"
"  --format F        table (default) or json\n"
"\n"
"exit codes: 0 ok; 2 store missing or unreadable; 64 usage error.\n");
}

/* One flag of add, drop or list: an ot_cli_flag_fn. */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_args *a = ctx;
    switch (c) {
    case 'd': a->data = arg; return -1;
    case 'A': a->admin = arg; return -1;
    case 'C': a->curve_secret = arg; return -1;
    case 'S': a->server_key = arg; return -1;
    case 'q': a->quiet = true; return -1;
    case 'g': a->group_by = arg; return -1;
    case 't':
        return ot_cli_flag_long(a->prog, "--timeout-ms", arg, 1, 86400000L, &a->timeout_ms)
                   ? OT_EXIT_USAGE : -1;
    case 'w':
        if (a->nwhere == OT_VIEW_MAX_FILTERS)
            return ot_cli_usage_error(a->prog, "at most %d --where filters", OT_VIEW_MAX_FILTERS);
        a->where[a->nwhere++] = arg;
        return -1;
    case 'f': {
        static const char *const formats[] = { "table", "json", NULL };
        int i;
        if (ot_cli_flag_choice(a->prog, "--format", arg, formats, &i))
            return OT_EXIT_USAGE;
        a->json = i == 1;
        return -1;
    }
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* Parse a view subcommand's flags; one operand NAME when want_name.
 * OUT: *name. Returns -1 to go on, or the exit code. */
static int
s_parse(s_args *a, const struct option *opts, void (*help)(FILE *), int argc, char **argv,
        bool want_name, const char **name)
{
    const ot_cli_parser p = { a->prog, "", opts, s_flag, help };
    int first, code = ot_cli_parse(&p, argc, argv, a, want_name ? &first : NULL);
    if (code >= 0 || !want_name)
        return code;
    if (first >= argc)
        return ot_cli_usage_error(a->prog, "which view? %s NAME", a->prog);
    if (first + 1 < argc)
        return ot_cli_usage_error(a->prog, "unexpected argument '%s'", argv[first + 1]);
    *name = argv[first];
    return -1;
}

/* ---- waiting for the consumer ------------------------------------------- */

/* A spinner with the time waited, on a terminal, while the consumer works:
 * an ot_admin_wait_fn. */
typedef struct s_spinner {
    bool on;            /* stderr is a terminal and not --quiet */
    bool drawn;
    const char *label;
    unsigned n;
} s_spinner;

static bool
s_spin(void *ctx, int64_t elapsed_ms)
{
    static const char marks[] = "|/-\\";
    s_spinner *sp = ctx;
    if (sp->on) {
        fprintf(stderr, "\r\033[K%s %c %.1f s", sp->label, marks[sp->n++ % 4],
                (double)elapsed_ms / 1000.0);
        sp->drawn = true;
    }
    return true;
}

/* The client keys of a->curve_secret / a->server_key (or the environment):
 * both, or a key pair alone (the consumer's key then comes from
 * DATA/admin.endpoint). OUT: *me, *server; *has_me, *has_server.
 * Returns 0, or OT_EXIT_USAGE after printing what is wrong. */
static int
s_keys(const s_args *a, ot_keypair *me, ot_keypair *server, bool *has_me, bool *has_server)
{
    const char *secret = a->curve_secret ? a->curve_secret : getenv("OPTALLY_CURVE_SECRET");
    const char *srv = a->server_key ? a->server_key : getenv("OPTALLY_SERVER_KEY");
    char why[512];
    *has_me = *has_server = false;
    memset(me, 0, sizeof *me);
    memset(server, 0, sizeof *server);
    if (secret && srv) {
        if (ot_cli_client_keys(a->prog + strlen("optally "), secret, srv, me, server) < 0)
            return OT_EXIT_USAGE;
        *has_me = *has_server = true;
        return 0;
    }
    if (srv)
        return ot_cli_usage_error(a->prog, "--server-key needs --curve-secret (your NAME.key)");
    if (!secret)
        return 0;
    int rc = ot_keys_read(secret, 1, me);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot use key pair %s: %s (make one with `optally keygen`)\n",
                a->prog, secret, ot_keys_error_text(secret, 1, rc, why, sizeof why));
        return OT_EXIT_USAGE;
    }
    *has_me = true;
    return 0;
}

/* Send req to the consumer that holds a->data and wait for its reply.
 * OUT: *reply (owned: optally__admin_reply__free_unpacked). Returns the
 * exit code: OT_EXIT_OK (a reply came; it may say !ok), or OT_EXIT_FAILURE
 * / OT_EXIT_USAGE after printing why. */
static int
s_admin(const s_args *a, const Optally__AdminRequest *req, const char *label,
        Optally__AdminReply **reply)
{
    char err[512] = "";
    ot_keypair me, server;
    bool has_me, has_server;
    int code = s_keys(a, &me, &server, &has_me, &has_server);
    if (code != 0)
        return code;
    s_spinner sp = { .on = !a->quiet && isatty(STDERR_FILENO), .label = label };
    int rc = ot_admin_call_wait(a->data, a->admin, has_me ? &me : NULL,
                                has_server ? &server : NULL, req, reply, (int)a->timeout_ms,
                                s_spin, &sp, err, sizeof err);
    explicit_bzero(&me, sizeof me);
    if (sp.drawn)
        fprintf(stderr, "\r\033[K");
    if (rc == 0)
        return OT_EXIT_OK;
    if (rc == OT_EUSAGE)
        return ot_cli_usage_error(a->prog, "%s", err[0] ? err : ot_strerror(rc));
    if (rc == OT_ETIMEOUT)
        fprintf(stderr, "%s: the consumer holding %s did not answer within %ld ms; it may "
                "still be at work: `optally view list --data %s` tells\n", a->prog, a->data,
                a->timeout_ms, a->data);
    else if (rc == ENOENT)
        fprintf(stderr, "%s: %s\n", a->prog, err[0] ? err : "a process holds the data directory "
                "and takes no admin requests (a consumer with `--admin none`, or `optally "
                "rebuild`): try again when it is done");
    else
        fprintf(stderr, "%s: %s\n", a->prog, err[0] ? err : ot_strerror(rc));
    return OT_EXIT_FAILURE;
}

/* The exit code of a consumer's reply that says !ok, after printing it. */
static int
s_reply_error(const s_args *a, const Optally__AdminReply *r)
{
    if (r->usage)
        return ot_cli_usage_error(a->prog, "%s", r->error[0] ? r->error : "refused");
    fprintf(stderr, "%s: the consumer failed: %s\n", a->prog, r->error[0] ? r->error : "?");
    return OT_EXIT_FAILURE;
}

/* Whether a consumer holds a->data. A directory that cannot be checked
 * counts as none: opening the store there then says what is wrong. */
static bool
s_consumer_runs(const s_args *a)
{
    bool yes = false;
    return ot_admin_consumer_running(a->data, &yes) == 0 && yes;
}

/* Open the store as a maintenance writer. OUT: *s. Returns -1 to go on,
 * -2 when a consumer took the directory meanwhile, or the exit code. */
static int
s_open_writer(const s_args *a, ot_store **s)
{
    ot_store_options so = { .maintenance = true };
    int rc = ot_cli_store_open(a->prog, a->data, &so, s);
    if (rc == OT_ELOCKED)
        return -2;
    return rc == 0 ? -1 : OT_EXIT_FAILURE;
}

/* ---- add ------------------------------------------------------------------ */

/* Split --group-by at commas into def->group_by (pointers into buf).
 * Returns 0 or the usage error. */
static int
s_split_group_by(const s_args *a, char *buf, char **dims, Optally__ViewDef *def)
{
    if (!a->group_by)
        return ot_cli_usage_error(a->prog, "which dimensions? --group-by D1,D2,... (e.g. "
                                  "--group-by partner_force,month)");
    size_t n = 0;
    for (char *p = buf, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)); p = NULL) {
        if (n == OT_VIEW_MAX_FIELDS)
            return ot_cli_usage_error(a->prog, "--group-by takes 1..%d dimensions, not more",
                                      OT_VIEW_MAX_FIELDS);
        dims[n++] = tok;
    }
    if (n == 0 || strstr(a->group_by, ",,") || a->group_by[0] == ',' ||
        a->group_by[strlen(a->group_by) - 1] == ',')
        return ot_cli_usage_error(a->prog, "--group-by '%s': an empty dimension; write "
                                  "D1,D2,... (e.g. partner_force,month)", a->group_by);
    def->n_group_by = n;
    def->group_by = dims;
    return 0;
}

/* ot_store_progress_fn over ot_progress. */
static void
s_progress(void *ctx, uint64_t done, uint64_t total)
{
    ot_progress_update(ctx, done, total);
}

/* The stopped-store path of add: returns the exit code, or -2 when a
 * consumer took the directory meanwhile. */
static int
s_add_here(const s_args *a, const Optally__ViewDef *def)
{
    ot_store *s;
    int code = s_open_writer(a, &s);
    if (code != -1)
        return code;
    ot_progress prog;
    uint64_t filled = 0;
    char err[512] = "";
    ot_progress_init(&prog, "view add", "log records", a->quiet);
    int rc = ot_store_view_add(s, def, s_progress, &prog, &filled,
                               err, sizeof err);
    ot_progress_clear(&prog);
    double secs = (double)ot_progress_elapsed_ms(&prog) / 1000.0;
    ot_store_close(&s);
    if (rc == OT_EUSAGE || (rc == ENOSPC && err[0] && strstr(err, "view")))
        return ot_cli_usage_error(a->prog, "%s", err[0] ? err : ot_strerror(rc));
    if (rc != 0) {
        fprintf(stderr, "%s: %s (nothing changed)\n", a->prog, err[0] ? err : ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    printf("view %s added: %" PRIu64 " log records folded in %.1f s\n", def->name, filled, secs);
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

/* The consumer path of add. Returns the exit code. */
static int
s_add_remote(const s_args *a, Optally__ViewDef *def)
{
    Optally__AdminRequest req = OPTALLY__ADMIN_REQUEST__INIT;
    Optally__AdminReply *r = NULL;
    char label[128];
    req.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_ADD;
    req.view = def;
    snprintf(label, sizeof label, "view add %s: the consumer is filling it", def->name);
    int code = s_admin(a, &req, label, &r);
    if (code != OT_EXIT_OK)
        return code;
    if (!r->ok)
        code = s_reply_error(a, r);
    else
        printf("view %s added: %" PRIu64 " log records folded in %.1f s\n", def->name,
               r->filled_events, r->seconds);
    optally__admin_reply__free_unpacked(r, NULL);
    if (code == OT_EXIT_OK && fflush(stdout) != 0)
        code = OT_EXIT_FAILURE;
    return code;
}

static int
s_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "group-by", required_argument, NULL, 'g' },
        { "where", required_argument, NULL, 'w' },
        { "data", required_argument, NULL, 'd' },
        { "admin", required_argument, NULL, 'A' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "server-key", required_argument, NULL, 'S' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    s_args a = { .prog = "optally view add", .data = ot_cli_data_default(),
                 .timeout_ms = S_TIMEOUT_MS_DEFAULT };
    const char *name = NULL;
    int code = s_parse(&a, opts, s_add_help, argc, argv, true, &name);
    if (code >= 0)
        return code;
    if ((code = ot_cli_view_name_check(a.prog, name)) != 0)
        return code;
    Optally__ViewDef def = OPTALLY__VIEW_DEF__INIT;
    char gbuf[1024], *dims[OT_VIEW_MAX_FIELDS];
    char err[512] = "";
    def.name = (char *)name;
    def.where = (char **)a.where;
    def.n_where = a.nwhere;
    if (a.group_by && strlen(a.group_by) >= sizeof gbuf)
        return ot_cli_usage_error(a.prog, "--group-by is too long");
    snprintf(gbuf, sizeof gbuf, "%s", a.group_by ? a.group_by : "");
    if ((code = s_split_group_by(&a, gbuf, dims, &def)) != 0)
        return code;
    if (ot_viewset_check_def(&def, err, sizeof err) != 0)
        return ot_cli_usage_error(a.prog, "%s", err);
    if (!s_consumer_runs(&a) && (code = s_add_here(&a, &def)) != -2)
        return code;
    return s_add_remote(&a, &def);
}

/* ---- drop ----------------------------------------------------------------- */

/* The stopped-store path of drop: the exit code, or -2 as s_add_here. */
static int
s_drop_here(const s_args *a, const char *name)
{
    ot_store *s;
    char err[512] = "";
    int code = s_open_writer(a, &s);
    if (code != -1)
        return code;
    ot_viewset *vs = NULL;
    int rc = ot_store_views(s, &vs);
    const ot_view *v;
    if (rc == 0 && (code = ot_cli_view_lookup(a->prog, vs, name, &v, NULL)) != 0) {
        ot_viewset_free(&vs);
        ot_store_close(&s);
        return code;
    }
    ot_viewset_free(&vs);
    if (rc == 0)
        rc = ot_store_view_drop(s, name, err, sizeof err);
    ot_store_close(&s);
    if (rc == OT_EUSAGE || rc == OT_ENOTFOUND)
        return ot_cli_usage_error(a->prog, "%s", err[0] ? err : ot_strerror(rc));
    if (rc != 0) {
        fprintf(stderr, "%s: %s (nothing changed)\n", a->prog, err[0] ? err : ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    printf("view %s dropped\n", name);
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

static int
s_drop_remote(const s_args *a, const char *name)
{
    Optally__AdminRequest req = OPTALLY__ADMIN_REQUEST__INIT;
    Optally__AdminReply *r = NULL;
    req.op = OPTALLY__ADMIN_REQUEST__OP__VIEW_DROP;
    req.name = (char *)name;
    int code = s_admin(a, &req, "view drop: waiting for the consumer", &r);
    if (code != OT_EXIT_OK)
        return code;
    if (!r->ok)
        code = s_reply_error(a, r);
    else
        printf("view %s dropped\n", name);
    optally__admin_reply__free_unpacked(r, NULL);
    if (code == OT_EXIT_OK && fflush(stdout) != 0)
        code = OT_EXIT_FAILURE;
    return code;
}

static int
s_drop(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "admin", required_argument, NULL, 'A' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "server-key", required_argument, NULL, 'S' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    s_args a = { .prog = "optally view drop", .data = ot_cli_data_default(),
                 .timeout_ms = S_TIMEOUT_MS_DEFAULT };
    const char *name = NULL;
    int code = s_parse(&a, opts, s_drop_help, argc, argv, true, &name);
    if (code >= 0)
        return code;
    if ((code = ot_cli_view_name_check(a.prog, name)) != 0)
        return code;
    if (ot_view_find(name))
        return ot_cli_usage_error(a.prog, "%s is a built-in view: built-in views cannot be "
                                  "dropped", name);
    if (!s_consumer_runs(&a) && (code = s_drop_here(&a, name)) != -2)
        return code;
    return s_drop_remote(&a, name);
}

/* ---- list ----------------------------------------------------------------- */

/* A JSON array of n strings, appended to b. Returns 0 or ENOMEM. */
static int
s_json_strings(ot_buf *b, const char *const *s, size_t n)
{
    int rc = ot_buf_append(b, "[", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = ot_buf_append(b, ",", 1);
        if (rc == 0)
            rc = ot_buf_json_string(b, s[i], strlen(s[i]));
    }
    return rc == 0 ? ot_buf_append(b, "]", 1) : rc;
}

/* n strings joined by sep, appended to b as they are. */
static int
s_join(ot_buf *b, const char *const *s, size_t n, const char *sep)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = ot_buf_append(b, sep, strlen(sep));
        if (rc == 0)
            rc = ot_buf_append(b, s[i], strlen(s[i]));
    }
    return rc;
}

/* One view as a row of list. Returns 0 or ENOMEM. */
static int
s_list_row(ot_buf *b, const ot_view *v, bool json)
{
    const Optally__ViewDef *def = ot_view_def(v);
    const char *const *where = def ? (const char *const *)def->where : NULL;
    size_t nwhere = def ? def->n_where : 0;
    int rc;
    b->len = 0;
    if (json) {
        rc = ot_buf_append(b, "{\"name\":", 8);
        if (rc == 0)
            rc = ot_buf_json_string(b, v->name, strlen(v->name));
        if (rc == 0)
            rc = ot_buf_append(b, ",\"group_by\":", 12);
        if (rc == 0)
            rc = s_json_strings(b, v->fields, (size_t)v->nfields);
        if (rc == 0)
            rc = ot_buf_append(b, ",\"where\":", 9);
        if (rc == 0)
            rc = s_json_strings(b, where, nwhere);
        if (rc == 0)
            rc = ot_buf_printf(b, ",\"builtin\":%s}\n", def ? "false" : "true");
        return rc;
    }
    rc = ot_buf_printf(b, "%-24s ", v->name);
    size_t start = b->len;
    if (rc == 0)
        rc = v->nfields ? s_join(b, v->fields, (size_t)v->nfields, ",") : ot_buf_append(b, "-", 1);
    while (rc == 0 && b->len - start < 32)
        rc = ot_buf_append(b, " ", 1);
    if (rc == 0)
        rc = ot_buf_append(b, " ", 1);
    if (rc == 0 && nwhere)
        rc = s_join(b, where, nwhere, " and ");
    else if (rc == 0)
        rc = ot_buf_append(b, def ? "-" : "(built-in)", def ? 1 : 10);
    return rc == 0 ? ot_buf_append(b, "\n", 1) : rc;
}

static int
s_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 },
    };
    s_args a = { .prog = "optally view list", .data = ot_cli_data_default() };
    int code = s_parse(&a, opts, s_list_help, argc, argv, false, NULL);
    if (code >= 0)
        return code;
    ot_store *s;
    ot_store_options so = { .readonly = true };
    if (ot_cli_store_open(a.prog, a.data, &so, &s) != 0)
        return OT_EXIT_FAILURE;
    ot_viewset *vs = NULL;
    int rc = ot_store_views(s, &vs);
    ot_store_close(&s);
    ot_buf line = { NULL, 0, 0 };
    if (rc == 0 && !a.json)
        printf("%-24s %-32s %s\n", "name", "group_by", "where");
    for (size_t i = 0; rc == 0 && i < ot_viewset_count(vs); i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (v && (rc = s_list_row(&line, v, a.json)) == 0)
            fwrite(line.data, 1, line.len, stdout);
    }
    ot_buf_free(&line);
    ot_viewset_free(&vs);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", a.prog, ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? OT_EXIT_OK : OT_EXIT_FAILURE;
}

int
ot_cmd_view(int argc, char **argv)
{
    if (argc < 2)
        return ot_cli_usage_error("optally view", "which subcommand? add, drop or list");
    if (!strcmp(argv[1], "add"))
        return s_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "drop"))
        return s_drop(argc - 1, argv + 1);
    if (!strcmp(argv[1], "list"))
        return s_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_view_help(stdout);
        return OT_EXIT_OK;
    }
    return ot_cli_usage_error("optally view", "unknown subcommand '%s' (add, drop or list)",
                              argv[1]);
}
