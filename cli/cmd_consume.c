/*
 * optally consume: the daemon's command line, in three parts: s_parse
 * (flags and environment into ot_consumer_options), s_serve (open, run,
 * close) and the lines it reports. SIGTERM / SIGINT drain and exit 0; a
 * second signal is not needed (the drain is bounded by the work already in
 * flight). Exit 2 on a runtime failure, with one line naming its cause: the
 * store or an endpoint cannot be opened, or the consumer stopped because a
 * part of it became unusable (the writer ended, the store panicked, the
 * memory ceiling), for a supervisor to restart it. 64 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ot_auth.h"
#include "ot_consumer.h"
#include "ot_error.h"

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_help(FILE *f)
{
    fprintf(f,
        "usage: optally consume [options]\n\n"
        "Run the consumer: receive EventBatch messages on a ZeroMQ ROUTER socket,\n"
        "validate, deduplicate and fold them into tallies in LMDB, exactly once,\n"
        "and answer each batch after its transaction has committed.\n\n"
        "options:\n"
        "  --data DIR          data directory (default ./optally-data; env OPTALLY_DATA)\n"
        "  --ingest ENDPOINT   ROUTER endpoint to bind (default tcp://127.0.0.1:7710;\n"
        "                      env OPTALLY_INGEST; tcp://localhost:P, tcp://[::1]:P,\n"
        "                      tcp://*:P and ipc:///path work too)\n"
        "  --publish ENDPOINT  PUB socket of tally updates (default tcp://127.0.0.1:7711;\n"
        "                      env OPTALLY_PUBLISH; 'none' turns it off)\n"
        "  --snapshot ENDPOINT snapshot service for subscribers (default\n"
        "                      tcp://127.0.0.1:7712; env OPTALLY_SNAPSHOT; 'none' = off);\n"
        "                      replies in chunks of at most 1 MiB, one request at a time,\n"
        "                      at most 16 MiB queued for all clients; a client taking no\n"
        "                      chunk for 5 s, or a reply past 60 s, is abandoned\n"
        "  --admin ENDPOINT    admin socket for `optally view add|drop|list` against this\n"
        "                      running consumer (default ipc://DATA/admin.sock: the data\n"
        "                      directory is 0700, so only its owner can connect; env\n"
        "                      OPTALLY_ADMIN; 'none' turns it off); with --curve-secret\n"
        "                      a CURVE server taking the --allow-keys (producer) keys.\n"
        "                      Its endpoint is written to DATA/admin.endpoint. A view add\n"
        "                      fills the view from the whole log in one transaction:\n"
        "                      ingest waits meanwhile (producers' batches queue and are\n"
        "                      answered after it). A request is at most 64 KiB; a\n"
        "                      larger one drops its connection unanswered\n"
        "  --pub-hwm N         updates queued per slow subscriber before dropping,\n"
        "                      1..10000000 (default 100000), at most 15625 each: at most\n"
        "                      64 subscribers are served at once (more are disconnected\n"
        "                      and retry) and 1,000,000 updates are queued in all\n"
        "                      (~112 MB); a subscriber that misses one re-snapshots\n"
        "  --curve-secret FILE server key pair (from `optally keygen`, mode 0600: a file\n"
        "                      others can read is refused): CurveZMQ on every socket;\n"
        "                      needs --allow-keys\n"
        "  --allow-keys DIR    public keys allowed to connect: the NAME.pub files of DIR\n"
        "                      (one per peer; other files are ignored, with a warning):\n"
        "                      producers, and subscribers unless --allow-subscriber-keys.\n"
        "                      Each key loaded and each refused handshake is logged\n"
        "  --allow-subscriber-keys DIR  public keys (NAME.pub) allowed on publish and\n"
        "                      snapshot\n"
        "  --max-rss-mb N      memory ceiling, >= 64 (default 4096): stop loudly when the\n"
        "                      process's anonymous memory (resident, not counting the\n"
        "                      store's mapped file) passes it\n"
        "  --source-rank LIST  sources in rank order, best first, e.g. CENTCOM,SDF\n"
        "                      (env OPTALLY_SOURCE_RANK): of the members of one incident\n"
        "                      (events with the same \"incident\"), the best-ranked\n"
        "                      source's counts; unranked sources after all ranked ones,\n"
        "                      ties to the first stored. Kept in the store; not given:\n"
        "                      the stored one. A store that holds incidents refuses\n"
        "                      another ranking (exit 2, both named): change it with\n"
        "                      `optally rebuild --source-rank LIST`\n"
        "  --batch N           events and figures gathered into one transaction at most,\n"
        "                      >= 1\n"
        "                      (default 10000)\n"
        "  --flush-ms T        wait up to T ms for a transaction to fill, 0..60000\n"
        "                      (default 0: take what arrived during the previous commit)\n"
        "  --nosync            do not fsync at commit: faster, NOT durable on power loss\n"
        "  --max-msg-size B    largest message accepted, bytes, >= 64 (default 4194304);\n"
        "                      a peer sending more is disconnected (give producers the\n"
        "                      same --max-msg-size)\n"
        "  --map-size B        initial LMDB map size in bytes, >= 1048576 (grows on\n"
        "                      demand)\n"
        "  --quiet             no informational lines on stderr (warnings and the keys\n"
        "                      loaded are still said)\n"
        "  -h, --help          this text\n\n"
        "Rejected events are each answered REJECTED with their reason; the store keeps\n"
        "them one by one within a budget a minute: 100 rows / 256 KiB a message,\n"
        "1000 rows / 1 MiB a peer (its CURVE key, else its connection), 10000 rows /\n"
        "8 MiB for all peers; beyond it they are only counted, in summary rows (so\n"
        "rejects grow the store by at most ~8 MiB a minute).\n\n"
        "Prints 'optally consume: ready ingest=EP publish=EP snapshot=EP data=DIR admin=EP'\n"
        "on stderr once serving. A start that fails removes the data directory it had\n"
        "created.\n"
        "exit codes: 0 stopped cleanly by SIGTERM/SIGINT; 2 runtime failure (store cannot\n"
        "be opened, another consumer holds DIR, endpoint in use; or the store became\n"
        "unusable while serving: restart it); 64 usage error.\n");
}

#define S_PROG "optally consume"

/* A decimal integer in [min, max], the whole string. OUT: *out. Returns -1
 * when taken, or the usage exit code after a message that says what is
 * wrong: not an integer ("needs an integer >= MIN", or "in MIN..MAX" when
 * the flag has a bound of its own), or out of range, also beyond 64 bits
 * where strtoll says ERANGE ("is out of range: it takes MIN..MAX"). */
static int
s_parse_int(const char *s, const char *flag, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s) {
        if (max == LLONG_MAX)
            return ot_cli_usage_error(S_PROG, "%s needs an integer >= %lld, got '%s'", flag, min, s);
        return ot_cli_usage_error(S_PROG, "%s needs an integer in %lld..%lld, got '%s'", flag, min,
                                  max, s);
    }
    if (errno == ERANGE || v < min || v > max)
        return ot_cli_usage_error(S_PROG, "%s %s is out of range: it takes an integer in "
                                  "%lld..%lld", flag, s, min, max);
    *out = v;
    return -1;
}

/* A source ranking: names separated by commas, none empty, no control
 * character nor space around a name ("" ranks none). Returns -1 when good,
 * or the usage exit code after a message naming what (the flag or the
 * variable) is wrong. */
static int
s_check_rank(const char *what, const char *list)
{
    if (!list[0])
        return -1;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || p[0] == ' ' || p[n - 1] == ' ')
            return ot_cli_usage_error(S_PROG, "%s takes source names separated by commas, "
                                      "e.g. CENTCOM,SDF (no empty name, no space around one), "
                                      "not '%s'", what, list);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return ot_cli_usage_error(S_PROG, "%s: a source name holds a control "
                                          "character", what);
        if (!end)
            return -1;
        p = end + 1;
    }
}

/* One flag c (what getopt_long returned) with its value arg into the
 * ot_consumer_options ctx: an ot_cli_flag_fn (args.h). Returns -1 when
 * taken, OT_CLI_FLAG_UNKNOWN, or OT_EXIT_USAGE after a usage error. */
static int
s_flag(void *ctx, int c, const char *arg)
{
    ot_consumer_options *o = ctx;
    long long v;
    int rc = -1;
    switch (c) {
    case 'd': o->data_dir = arg; break;
    case 'i': o->ingest = arg; break;
    case 'p': o->publish = arg; break;
    case 's': o->snapshot = arg; break;
    case 'a': o->admin = arg; break;
    case 'C': o->curve_secret = arg; break;
    case 'A': o->allow_keys = arg; break;
    case 'S': o->allow_sub_keys = arg; break;
    case 'n': o->nosync = true; break;
    case 'q': o->quiet = true; break;
    case 'b':
        if ((rc = s_parse_int(arg, "--batch", 1, LLONG_MAX, &v)) < 0)
            o->batch = (size_t)v;
        break;
    case 'f':
        if ((rc = s_parse_int(arg, "--flush-ms", 0, 60000, &v)) < 0)
            o->flush_ms = (int)v;
        break;
    case 'm':
        if ((rc = s_parse_int(arg, "--max-msg-size", 64, LLONG_MAX, &v)) < 0)
            o->max_msg_size = v;
        break;
    case 'M':
        if ((rc = s_parse_int(arg, "--map-size", 1 << 20, LLONG_MAX, &v)) < 0)
            o->map_size = (size_t)v;
        break;
    case 'R':
        if ((rc = s_parse_int(arg, "--max-rss-mb", 64, LLONG_MAX, &v)) < 0)
            o->max_rss_mb = (size_t)v;
        break;
    case 'H':
        if ((rc = s_parse_int(arg, "--pub-hwm", 1, 10000000, &v)) < 0)
            o->pub_hwm = (int)v;
        break;
    case 'r': o->source_rank = arg; break;   /* checked in s_parse */
    default:
        return OT_CLI_FLAG_UNKNOWN;   /* ot_cli_parse says "unknown option" / "needs a value" */
    }
    return rc;
}

/* Flags and environment (OPTALLY_DATA, OPTALLY_INGEST, OPTALLY_PUBLISH,
 * OPTALLY_SNAPSHOT, OPTALLY_ADMIN, OPTALLY_SOURCE_RANK; a flag wins) into *o; unset fields
 * stay 0 (the consumer's defaults). Returns -1 to go on, or the exit code. */
static int
s_parse(int argc, char **argv, ot_consumer_options *o)
{
    static const struct option opts[] = {
        { "data", required_argument, NULL, 'd' },
        { "ingest", required_argument, NULL, 'i' },
        { "batch", required_argument, NULL, 'b' },
        { "flush-ms", required_argument, NULL, 'f' },
        { "nosync", no_argument, NULL, 'n' },
        { "max-msg-size", required_argument, NULL, 'm' },
        { "map-size", required_argument, NULL, 'M' },
        { "quiet", no_argument, NULL, 'q' },
        { "publish", required_argument, NULL, 'p' },
        { "snapshot", required_argument, NULL, 's' },
        { "admin", required_argument, NULL, 'a' },
        { "pub-hwm", required_argument, NULL, 'H' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "allow-keys", required_argument, NULL, 'A' },
        { "allow-subscriber-keys", required_argument, NULL, 'S' },
        { "max-rss-mb", required_argument, NULL, 'R' },
        { "source-rank", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    static const ot_cli_parser parser = { S_PROG, "", opts, s_flag, s_help };
    memset(o, 0, sizeof *o);
    o->data_dir = getenv("OPTALLY_DATA");
    o->ingest = getenv("OPTALLY_INGEST");
    o->publish = getenv("OPTALLY_PUBLISH");
    o->snapshot = getenv("OPTALLY_SNAPSHOT");
    o->admin = getenv("OPTALLY_ADMIN");
    o->source_rank = getenv("OPTALLY_SOURCE_RANK");
    int rc = ot_cli_parse(&parser, argc, argv, o, NULL);
    /* Checked here, after the flags: a good --source-rank overrides a bad
     * variable. */
    if (rc < 0 && o->source_rank)
        rc = s_check_rank(o->source_rank == getenv("OPTALLY_SOURCE_RANK")
                          ? "OPTALLY_SOURCE_RANK" : "--source-rank", o->source_rank);
    return rc;
}

/* Say loudly, before serving, which endpoints anyone beyond this machine
 * can reach without keys. */
static void
s_warn_public(const ot_consumer_options *o)
{
    if (o->curve_secret)
        return;
    static const char *const what[] = { "write events", "read tallies", "read tallies",
                                        "declare and drop views" };
    const char *eps[] = { o->ingest, o->publish, o->snapshot, o->admin };
    for (size_t i = 0; i < 4; i++)
        if (eps[i] && ot_auth_endpoint_public(eps[i]))
            fprintf(stderr,
                    "optally consume: WARNING: %s is reachable beyond this machine and has no\n"
                    "optally consume: WARNING: CURVE keys: anyone who reaches it can %s.\n"
                    "optally consume: WARNING: use --curve-secret and --allow-keys (see `optally keygen`).\n",
                    eps[i], what[i]);
}

static void
s_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Open, announce readiness (the exact line tests and supervisors wait
 * for), serve until a signal or a failure, close. Returns the exit code. */
static int
s_serve(const ot_consumer_options *o)
{
    char err[512];
    ot_consumer *c;
    if (ot_consumer_open(o, &c, err, sizeof err) != 0) {
        fprintf(stderr, "optally consume: %s\n", err);
        return OT_EXIT_FAILURE;
    }
    fprintf(stderr, "optally consume: ready ingest=%s publish=%s snapshot=%s data=%s admin=%s\n",
            o->ingest ? o->ingest : OT_CONSUMER_DEFAULT_INGEST,
            o->publish ? o->publish : OT_CONSUMER_DEFAULT_PUBLISH,
            o->snapshot ? o->snapshot : OT_CONSUMER_DEFAULT_SNAPSHOT,
            o->data_dir ? o->data_dir : OT_CONSUMER_DEFAULT_DATA, ot_consumer_admin_endpoint(c));
    int rc = ot_consumer_run(c, &s_stop, err, sizeof err);
    ot_consumer_close(&c);
    if (rc == OT_EFATAL) {
        /* One line naming the cause; exit 2 so a supervisor restarts us. */
        fprintf(stderr, "optally consume: %s\n", err);
        return OT_EXIT_FAILURE;
    }
    if (rc != 0) {
        /* The memory ceiling has said its piece already; a socket failure
         * adds its errno text. */
        fprintf(stderr, "optally consume: stopped on error: %s%s%s\n", ot_strerror(rc),
                rc == OT_ETRANSPORT && err[0] ? ": " : "", rc == OT_ETRANSPORT ? err : "");
        return OT_EXIT_FAILURE;
    }
    if (!o->quiet)
        fprintf(stderr, "optally consume: stopped cleanly\n");
    return OT_EXIT_OK;
}

int
ot_cmd_consume(int argc, char **argv)
{
    ot_consumer_options o;
    int rc = s_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    s_on_signals();
    s_warn_public(&o);
    return s_serve(&o);
}
