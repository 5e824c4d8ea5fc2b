/*
 * otb_redis: the Redis baseline: the same events, the same dedup and fold
 * as optally, in Redis 7 with an AOF, by a Lua script, pipelined.
 *
 *   otb_redis --server /usr/bin/redis-server --dir DIR --fsync always|everysec
 *             --events FILE.bin [--pipeline N] [--name ROW]
 *
 * Starts its own redis-server (AOF on with the given appendfsync, no RDB
 * snapshots, a free port on 127.0.0.1, its files in DIR), loads the script,
 * sends one EVALSHA per event in pipelines of N (default 1000), then reads
 * the server's counters and stops it by pid (SIGTERM; it must exit 0).
 *
 * Per event the script gets KEYS[1] = "e:" + event_id and ARGV = revision,
 * content hash, 5 counts, 5 tally keys, the same as one tab-separated
 * header, and the packed event. SET NX of header + body: set -> STORED,
 * HINCRBY of every
 * non-zero counter of its five tallies ("t:" + key). Otherwise the stored
 * header decides: same revision and hash -> DUPLICATE (else conflict,
 * REJECTED); higher -> subtract the old header's contribution, add the new,
 * SET -> SUPERSEDED; lower -> STALE. With appendfsync always, Redis fsyncs
 * the AOF before it answers a pipeline's commands; with everysec a crash
 * may lose the last second of answered events.
 */
#include <errno.h>
#include <hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ot_clock.h"
#include "otb_fold.h"
#include "otb_util.h"

static const char s_script[] =
    "local names = {'events', 'operations', 'killed', 'detained', 'wounded'}\n"
    "local function apply(f, o, sign)\n"
    "  for k = o + 5, o + 9 do\n"
    "    for c = 1, 5 do\n"
    "      local v = tonumber(f[o + c - 1])\n"
    "      if v ~= 0 then redis.call('HINCRBY', f[k], names[c], sign * v) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if redis.call('SET', KEYS[1], ARGV[13] .. '\\n' .. ARGV[14], 'NX') then\n"
    "  apply(ARGV, 3, 1)\n"
    "  return 1\n"
    "end\n"
    "local old = redis.call('GET', KEYS[1])\n"
    "local of = {}\n"
    "for x in string.gmatch(string.sub(old, 1, string.find(old, '\\n', 1, true) - 1),"
    " '[^\\t]+') do of[#of + 1] = x end\n"
    "local orev, rev = tonumber(of[1]), tonumber(ARGV[1])\n"
    "if rev == orev then\n"
    "  if of[2] == ARGV[2] then return 2 end\n"
    "  return 5\n"
    "elseif rev > orev then\n"
    "  apply(of, 3, -1)\n"
    "  apply(ARGV, 3, 1)\n"
    "  redis.call('SET', KEYS[1], ARGV[13] .. '\\n' .. ARGV[14])\n"
    "  return 3\n"
    "end\n"
    "return 4\n";

typedef struct s_opts {
    const char *server, *dir, *fsync, *events, *name;
    size_t pipeline;
} s_opts;

static pid_t
s_start_server(const s_opts *o, int port)
{
    char portstr[16], logpath[4200];
    snprintf(portstr, sizeof portstr, "%d", port);
    snprintf(logpath, sizeof logpath, "%s/redis.log", o->dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl(o->server, o->server, "--port", portstr, "--bind", "127.0.0.1", "--dir", o->dir,
              "--appendonly", "yes", "--appendfsync", o->fsync, "--save", "",
              "--daemonize", "no", "--logfile", logpath, "--protected-mode", "yes",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static redisContext *
s_connect(int port, pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        redisContext *r = redisConnect("127.0.0.1", port);
        if (r && !r->err) {
            redisReply *rep = redisCommand(r, "PING");
            bool up = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            if (up)
                return r;
        }
        redisFree(r);
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return NULL;
        usleep(50000);
    }
    return NULL;
}

/* Build the header of one event: "rev\tchash\tc1..c5\tk1..k5". */
static size_t
s_header(const otb_fold *f, char *buf, size_t cap)
{
    const ot_counts *c = &f->counts;
    int n = snprintf(buf, cap, "%u\t%016" PRIx64 "\t%lld\t%lld\t%lld\t%lld\t%lld",
                     f->ev->revision, f->chash, (long long)c->events, (long long)c->operations,
                     (long long)c->killed, (long long)c->detained, (long long)c->wounded);
    for (int v = 0; v < OTB_NVIEWS && n > 0 && (size_t)n < cap; v++)
        n += snprintf(buf + n, cap - (size_t)n, "\tt:%s", f->keys[v]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Append one EVALSHA: KEYS[1] "e:" + event_id; ARGV[1] revision,
 * ARGV[2] content hash, ARGV[3..7] counts, ARGV[8..12] tally keys,
 * ARGV[13] the header to store (the same fields, tab-separated),
 * ARGV[14] the packed event. Returns 0, or -1 when it does not decode. */
static int
s_append(redisContext *r, const char *sha, const uint8_t *data, size_t n, int64_t now_ms)
{
    otb_fold f;
    if (otb_fold_decode(data, n, now_ms, &f) != 0)
        return -1;
    char key[OT_EVENT_ID_MAX + 8], hdr[8 * OT_VIEW_KEY_MAX];
    snprintf(key, sizeof key, "e:%s", f.ev->event_id);
    size_t hl = s_header(&f, hdr, sizeof hdr);
    const char *argv[18] = { "EVALSHA", sha, "1", key };
    size_t lens[18] = { 7, strlen(sha), 1, strlen(key) };
    /* ARGV[1..12] are the header's tab-separated fields, in place. */
    char fields[8 * OT_VIEW_KEY_MAX];
    memcpy(fields, hdr, hl + 1);
    int k = 4;
    for (char *p = fields, *tab; k < 16; p = tab + 1) {
        tab = strchr(p, '\t');
        argv[k] = p;
        lens[k++] = tab ? (size_t)(tab - p) : strlen(p);
        if (!tab)
            break;
    }
    argv[16] = hdr;
    lens[16] = hl;
    argv[17] = (const char *)data;
    lens[17] = n;
    int rc = k == 16 && hl && redisAppendCommandArgv(r, 18, argv, lens) == REDIS_OK ? 0 : -1;
    otb_fold_clear(&f);
    return rc;
}

static int
s_parse(int argc, char **argv, s_opts *o)
{
    o->server = "/usr/bin/redis-server";
    o->fsync = "everysec";
    o->pipeline = 1000;
    o->name = "redis";
    const otb_opt opts[] = {
        { "server", OTB_OPT_STR, &o->server, NULL },
        { "dir", OTB_OPT_STR, &o->dir, NULL },
        { "fsync", OTB_OPT_STR, &o->fsync, NULL },
        { "events", OTB_OPT_STR, &o->events, NULL },
        { "pipeline", OTB_OPT_SIZE, &o->pipeline, NULL },
        { "name", OTB_OPT_STR, &o->name, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || !o->dir || !o->events || o->pipeline == 0) {
        otb_usage("otb_redis --dir DIR --events FILE.bin [--server BIN] "
                  "[--fsync always|everysec] [--pipeline N] [--name ROW]");
        return -1;
    }
    return 0;
}

/* Send every event in pipelines; count the statuses. Returns 0 or -1. */
static int
s_run(redisContext *r, const char *sha, const otb_events *ev, size_t pipeline, uint64_t st[6])
{
    int64_t now_ms = ot_clock_wall_ms();
    size_t pos = 0;
    const uint8_t *data;
    size_t n;
    bool more = true;
    while (more) {
        size_t k = 0;
        while (k < pipeline && (more = otb_events_next(ev, &pos, &data, &n))) {
            if (s_append(r, sha, data, n, now_ms) != 0) {
                st[5]++;     /* invalid: refused before the store, as optally would */
                continue;
            }
            k++;
        }
        for (size_t i = 0; i < k; i++) {
            redisReply *rep;
            if (redisGetReply(r, (void **)&rep) != REDIS_OK || !rep) {
                fprintf(stderr, "otb_redis: connection: %s\n", r->errstr);
                return -1;
            }
            if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 1 || rep->integer > 5) {
                fprintf(stderr, "otb_redis: script said: %s\n",
                        rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
                freeReplyObject(rep);
                return -1;
            }
            st[rep->integer]++;
            freeReplyObject(rep);
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    s_opts o = { 0 };
    if (s_parse(argc, argv, &o) != 0)
        return 64;
    otb_events ev;
    if (otb_events_open(o.events, &ev) != 0)
        return 2;
    int port = otb_free_port();
    pid_t pid = port ? s_start_server(&o, port) : -1;
    redisContext *r = pid > 0 ? s_connect(port, pid) : NULL;
    if (!r) {
        fprintf(stderr, "otb_redis: redis-server did not come up (see %s/redis.log)\n", o.dir);
        otb_child_stop(pid, 60);
        return 2;
    }
    redisReply *rep = redisCommand(r, "SCRIPT LOAD %s", s_script);
    char sha[64] = "";
    if (rep && rep->type == REDIS_REPLY_STRING)
        snprintf(sha, sizeof sha, "%s", rep->str);
    else
        fprintf(stderr, "otb_redis: SCRIPT LOAD: %s\n", rep && rep->str ? rep->str : r->errstr);
    freeReplyObject(rep);

    uint64_t st[6] = { 0 };
    otb_span client, server;
    otb_span_begin(&client, 0, NULL);
    otb_span_begin(&server, pid, o.dir);
    int rc = sha[0] ? s_run(r, sha, &ev, o.pipeline, st) : -1;
    otb_span_end(&server);
    otb_span_end(&client);
    redisFree(r);
    int exit_status = otb_child_stop(pid, 60);
    uint64_t du = otb_du(o.dir);
    bool ok = otb_meta_check(o.events, st, "otb_redis") && rc == 0;
    if (exit_status != 0) {
        fprintf(stderr, "otb_redis: redis-server exit status %d (expected 0)\n", exit_status);
        ok = false;
    }
    char common[512];
    otb_result(o.name, "%s\tdistinct=%lld\tcpu_s=%.2f\tcpu_server_s=%.2f\tcpu_client_s=%.2f"
               "\tdu=%" PRIu64 "\tfsync=%s\tpipeline=%zu\tok=%d",
               otb_span_fields(&server, ev.n, common, sizeof common),
               otb_meta_get(o.events, "distinct"), otb_span_cpu(&server) + otb_span_cpu(&client),
               otb_span_cpu(&server), otb_span_cpu(&client), du, o.fsync, o.pipeline, ok);
    otb_events_close(&ev);
    return ok ? 0 : 1;
}
