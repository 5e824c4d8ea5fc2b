/*
 * optally consume: the daemon's command line. SIGTERM / SIGINT drain and
 * exit 0; a second signal is not needed (the drain is bounded by the work
 * already in flight).
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
        "                      env OPTALLY_INGEST; ipc:///path works too)\n"
        "  --publish ENDPOINT  PUB socket of tally updates (default tcp://127.0.0.1:7711;\n"
        "                      env OPTALLY_PUBLISH; 'none' turns it off)\n"
        "  --snapshot ENDPOINT snapshot service for subscribers (default\n"
        "                      tcp://127.0.0.1:7712; env OPTALLY_SNAPSHOT; 'none' = off)\n"
        "  --pub-hwm N         updates queued per slow subscriber before dropping (default\n"
        "                      100000; a subscriber that misses one re-snapshots)\n"
        "  --curve-secret FILE server key pair (from `optally keygen`): CurveZMQ on every\n"
        "                      socket; needs --allow-keys\n"
        "  --allow-keys DIR    public keys (one NAME.pub per peer) allowed to connect:\n"
        "                      producers, and subscribers unless --allow-subscriber-keys\n"
        "  --allow-subscriber-keys DIR  public keys allowed on publish/snapshot\n"
        "  --max-rss-mb N      memory ceiling: stop loudly above it (default 4096)\n"
        "  --batch N           events gathered into one transaction at most (default 10000)\n"
        "  --flush-ms T        wait up to T ms for a transaction to fill (default 0:\n"
        "                      take what arrived during the previous commit)\n"
        "  --nosync            do not fsync at commit: faster, NOT durable on power loss\n"
        "  --max-msg-size B    largest message accepted, bytes (default 4194304); a peer\n"
        "                      sending more is disconnected\n"
        "  --map-size B        initial LMDB map size in bytes (grows on demand)\n"
        "  --quiet             no informational lines on stderr\n"
        "  -h, --help          this text\n\n"
        "Prints 'optally consume: ready ingest=EP publish=EP snapshot=EP data=DIR' on stderr\n"
        "once serving.\n"
        "exit codes: 0 stopped cleanly by SIGTERM/SIGINT; 2 runtime failure (store cannot\n"
        "be opened, another consumer holds DIR, endpoint in use); 64 usage error.\n");
}

static int
s_parse_size(const char *s, const char *flag, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min) {
        fprintf(stderr, "optally consume: %s needs an integer >= %lld, got '%s'\n", flag, min, s);
        return -1;
    }
    *out = v;
    return 0;
}

int
ot_cmd_consume(int argc, char **argv)
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
        { "pub-hwm", required_argument, NULL, 'H' },
        { "curve-secret", required_argument, NULL, 'C' },
        { "allow-keys", required_argument, NULL, 'A' },
        { "allow-subscriber-keys", required_argument, NULL, 'S' },
        { "max-rss-mb", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ot_consumer_options o = { 0 };
    o.data_dir = getenv("OPTALLY_DATA");
    o.ingest = getenv("OPTALLY_INGEST");
    o.publish = getenv("OPTALLY_PUBLISH");
    o.snapshot = getenv("OPTALLY_SNAPSHOT");
    long long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': o.data_dir = optarg; break;
        case 'i': o.ingest = optarg; break;
        case 'b':
            if (s_parse_size(optarg, "--batch", 1, &v)) return OT_EXIT_USAGE;
            o.batch = (size_t)v;
            break;
        case 'f':
            if (s_parse_size(optarg, "--flush-ms", 0, &v) || v > 60000) return OT_EXIT_USAGE;
            o.flush_ms = (int)v;
            break;
        case 'n': o.nosync = true; break;
        case 'm':
            if (s_parse_size(optarg, "--max-msg-size", 64, &v)) return OT_EXIT_USAGE;
            o.max_msg_size = v;
            break;
        case 'M':
            if (s_parse_size(optarg, "--map-size", 1 << 20, &v)) return OT_EXIT_USAGE;
            o.map_size = (size_t)v;
            break;
        case 'q': o.quiet = true; break;
        case 'C': o.curve_secret = optarg; break;
        case 'A': o.allow_keys = optarg; break;
        case 'S': o.allow_sub_keys = optarg; break;
        case 'R':
            if (s_parse_size(optarg, "--max-rss-mb", 64, &v)) return OT_EXIT_USAGE;
            o.max_rss_mb = (size_t)v;
            break;
        case 'p': o.publish = optarg; break;
        case 's': o.snapshot = optarg; break;
        case 'H':
            if (s_parse_size(optarg, "--pub-hwm", 1, &v) || v > 10000000) return OT_EXIT_USAGE;
            o.pub_hwm = (int)v;
            break;
        case 'h': s_help(stdout); return OT_EXIT_OK;
        default: s_help(stderr); return OT_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "optally consume: unexpected argument '%s'\n", argv[optind]);
        return OT_EXIT_USAGE;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!o.curve_secret) {
        const char *eps[] = { o.ingest, o.publish, o.snapshot };
        for (size_t i = 0; i < 3; i++)
            if (eps[i] && ot_auth_endpoint_public(eps[i]))
                fprintf(stderr,
                        "optally consume: WARNING: %s is reachable beyond this machine and has no\n"
                        "optally consume: WARNING: CURVE keys: anyone who reaches it can %s.\n"
                        "optally consume: WARNING: use --curve-secret and --allow-keys (see `optally keygen`).\n",
                        eps[i], i == 0 ? "write events" : "read tallies");
    }
    ot_consumer *c;
    int rc = ot_consumer_open(&o, &c);
    if (rc != 0) {
        fprintf(stderr, "optally consume: %s\n", ot_consumer_last_error());
        return OT_EXIT_FAILURE;
    }
    fprintf(stderr, "optally consume: ready ingest=%s publish=%s snapshot=%s data=%s\n",
            o.ingest ? o.ingest : OT_CONSUMER_DEFAULT_INGEST,
            o.publish ? o.publish : OT_CONSUMER_DEFAULT_PUBLISH,
            o.snapshot ? o.snapshot : OT_CONSUMER_DEFAULT_SNAPSHOT,
            o.data_dir ? o.data_dir : OT_CONSUMER_DEFAULT_DATA);
    rc = ot_consumer_run(c, &s_stop);
    ot_consumer_close(&c);
    if (rc != 0) {
        fprintf(stderr, "optally consume: stopped on error: %s\n", ot_strerror(rc));
        return OT_EXIT_FAILURE;
    }
    if (!o.quiet)
        fprintf(stderr, "optally consume: stopped cleanly\n");
    return OT_EXIT_OK;
}
