/*
 * ot_reject_budget: reject rows per message, per peer and in all, per
 * window (contract in ot_reject_budget.h).
 *
 * Invariants:
 *  1. Within one window, the rows and bytes charged to a peer (kept rows
 *     and summaries) never pass peer_rows / peer_bytes, and those charged
 *     to everybody never pass all_rows / all_bytes: every charge is checked
 *     first. Kept rows leave room for one summary (one row and
 *     OT_REJECT_BUDGET_SUMMARY_MAX bytes) so the counts of a flood can be
 *     told in the same window.
 *  2. Every entry changed by an attempt is saved once (the journal) before
 *     its first change; rollback restores the saved copies, so a failed or
 *     redone ingest leaves the budgets as the last commit left them.
 */
#include "ot_reject_budget.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot_hash.h"
#include "optally.pb-c.h"

#define S_NREASON 32    /* RejectReason values counted one by one; more: the last slot */
#define S_NBERR   16    /* BatchError values, likewise */

/* One peer's window, or everybody's (then h and the pending counts are unused). */
typedef struct s_peer {
    bool used;
    uint64_t h;                 /* keyed hash of the peer's bytes */
    int64_t window_start;       /* monotonic ms */
    uint64_t rows, bytes;       /* charged in this window */
    uint64_t pending;           /* rows not kept and not yet told in a summary */
    uint32_t by_reason[S_NREASON];
    uint32_t by_error[S_NBERR];
    int64_t pending_since;      /* wall ms of the first pending row's message */
    int64_t last_used;          /* monotonic ms: the least recent entry is reused */
    uint64_t saved_in;          /* the attempt that journaled it */
} s_peer;

typedef struct s_saved {
    s_peer *at;
    s_peer was;
} s_saved;

struct ot_reject_budget {
    ot_store_reject_limits lim;
    ot_hash_key hk;
    s_peer peers[OT_REJECT_BUDGET_PEERS];
    s_peer all;
    s_saved journal[OT_REJECT_BUDGET_PEERS + 1];
    size_t njournal;
    uint64_t attempt;           /* begin() count: never 0 in an attempt */
    int64_t now;                /* monotonic ms of the attempt */
    /* the current message */
    uint64_t peer_h;
    int64_t received_at;
    s_peer *peer;               /* looked up at its first reject, NULL before */
    uint64_t msg_rows, msg_bytes;
};

int
ot_reject_budget_new(const ot_store_reject_limits *lim, ot_reject_budget **out)
{
    ot_reject_budget *b = calloc(1, sizeof *b);
    if (!b)
        return ENOMEM;
    ot_store_reject_limits d = { OT_STORE_REJECT_MSG_ROWS, OT_STORE_REJECT_MSG_BYTES,
                                 OT_STORE_REJECT_PEER_ROWS, OT_STORE_REJECT_PEER_BYTES,
                                 OT_STORE_REJECT_ALL_ROWS, OT_STORE_REJECT_ALL_BYTES,
                                 OT_STORE_REJECT_WINDOW_MS };
    if (lim) {
        d.msg_rows = lim->msg_rows ? lim->msg_rows : d.msg_rows;
        d.msg_bytes = lim->msg_bytes ? lim->msg_bytes : d.msg_bytes;
        d.peer_rows = lim->peer_rows ? lim->peer_rows : d.peer_rows;
        d.peer_bytes = lim->peer_bytes ? lim->peer_bytes : d.peer_bytes;
        d.all_rows = lim->all_rows ? lim->all_rows : d.all_rows;
        d.all_bytes = lim->all_bytes ? lim->all_bytes : d.all_bytes;
        d.window_ms = lim->window_ms ? lim->window_ms : d.window_ms;
    }
    b->lim = d;
    ot_hash_random_key(&b->hk);
    *out = b;
    return 0;
}

void
ot_reject_budget_free(ot_reject_budget **pb)
{
    free(*pb);
    *pb = NULL;
}

const ot_store_reject_limits *
ot_reject_budget_limits(const ot_reject_budget *b)
{
    return &b->lim;
}

void
ot_reject_budget_begin(ot_reject_budget *b, int64_t now_ms)
{
    b->attempt++;
    b->njournal = 0;
    b->now = now_ms;
    b->peer = NULL;
}

void
ot_reject_budget_commit(ot_reject_budget *b)
{
    b->njournal = 0;
    b->peer = NULL;
}

void
ot_reject_budget_rollback(ot_reject_budget *b)
{
    while (b->njournal > 0) {
        s_saved *s = &b->journal[--b->njournal];
        *s->at = s->was;
    }
    b->peer = NULL;
}

/* Save e before its first change in this attempt (invariant 2). */
static void
s_save(ot_reject_budget *b, s_peer *e)
{
    if (e->saved_in == b->attempt)
        return;
    /* At most every peer entry and `all` once: the journal has room. */
    b->journal[b->njournal].at = e;
    b->journal[b->njournal].was = *e;
    b->njournal++;
    e->saved_in = b->attempt;
}

/* e as it stands now: a window that ended starts afresh (pending counts
 * carry over: they are told in the next summary). */
static void
s_roll(ot_reject_budget *b, s_peer *e)
{
    s_save(b, e);
    if (!e->used || b->now - e->window_start >= b->lim.window_ms || b->now < e->window_start) {
        e->used = true;
        e->window_start = b->now;
        e->rows = 0;
        e->bytes = 0;
    }
    e->last_used = b->now;
}

void
ot_reject_budget_message(ot_reject_budget *b, const uint8_t *peer, size_t len,
                         int64_t received_at)
{
    b->peer_h = ot_hash_sip(&b->hk, peer, len);
    b->received_at = received_at;
    b->peer = NULL;
    b->msg_rows = 0;
    b->msg_bytes = 0;
}

/* The entry of the current message's peer: found, or a new one in a free
 * entry or the least recently used one. */
static s_peer *
s_peer_of(ot_reject_budget *b)
{
    if (b->peer)
        return b->peer;
    s_peer *free_e = NULL, *lru = NULL;
    for (size_t i = 0; i < OT_REJECT_BUDGET_PEERS && !b->peer; i++) {
        s_peer *e = &b->peers[i];
        if (e->used && e->h == b->peer_h)
            b->peer = e;
        else if (!e->used && !free_e)
            free_e = e;
        else if (e->used && (!lru || e->last_used < lru->last_used))
            lru = e;
    }
    if (!b->peer) {
        s_peer *victim = free_e ? free_e : lru;
        s_save(b, victim);
        memset(victim, 0, offsetof(s_peer, saved_in));
        victim->h = b->peer_h;
        b->peer = victim;
    }
    s_roll(b, b->peer);
    s_roll(b, &b->all);
    return b->peer;
}

/* True when a row of cost bytes fits e, leaving `reserve` rows and bytes. */
static bool
s_fits(const s_peer *e, uint64_t rows_max, uint64_t bytes_max, uint64_t cost,
       uint64_t reserve_rows, uint64_t reserve_bytes)
{
    return e->rows + 1 + reserve_rows <= rows_max && e->bytes + cost + reserve_bytes <= bytes_max;
}

static void
s_charge(s_peer *e, uint64_t cost)
{
    e->rows++;
    e->bytes += cost;
}

bool
ot_reject_budget_take(ot_reject_budget *b, uint64_t cost, int reason, int batch_error)
{
    s_peer *p = s_peer_of(b);
    const ot_store_reject_limits *l = &b->lim;
    const uint64_t sr = 1, sb = OT_REJECT_BUDGET_SUMMARY_MAX;   /* room for a summary */
    if (b->msg_rows + 1 <= l->msg_rows && b->msg_bytes + cost <= l->msg_bytes &&
        s_fits(p, l->peer_rows, l->peer_bytes, cost, sr, sb) &&
        s_fits(&b->all, l->all_rows, l->all_bytes, cost, sr, sb)) {
        b->msg_rows++;
        b->msg_bytes += cost;
        s_charge(p, cost);
        s_charge(&b->all, cost);
        return true;
    }
    if (p->pending == 0)
        p->pending_since = b->received_at;
    p->pending++;
    if (batch_error)
        p->by_error[batch_error < S_NBERR ? batch_error : S_NBERR - 1]++;
    else
        p->by_reason[reason >= 0 && reason < S_NREASON ? reason : S_NREASON - 1]++;
    return false;
}

uint64_t
ot_reject_budget_pending(const ot_reject_budget *b)
{
    return b->peer ? b->peer->pending : 0;
}

int
ot_reject_budget_summary_reason(const ot_reject_budget *b)
{
    int best = 0;
    if (!b->peer)
        return 0;
    for (int i = 1; i < S_NREASON; i++)
        if (b->peer->by_reason[i] > b->peer->by_reason[best])
            best = i;
    return b->peer->by_reason[best] ? best : 0;
}

/* Append "NAME n" for each non-zero count of an enum. */
static size_t
s_counts(char *text, size_t cap, size_t o, const ProtobufCEnumDescriptor *d,
         const uint32_t *counts, int n, const char *suffix)
{
    for (int i = 0; i < n && o < cap; i++) {
        if (!counts[i])
            continue;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, i);
        char num[24];
        snprintf(num, sizeof num, "%d", i);
        int w = snprintf(text + o, cap - o, "%s%s%s %" PRIu32, o && text[o - 1] != ' ' ? ", " : "",
                         v ? v->name : num, suffix, counts[i]);
        o += w > 0 ? (size_t)w : 0;
    }
    return o < cap ? o : cap - 1;
}

void
ot_reject_budget_summary_text(const ot_reject_budget *b, uint64_t in_message, char *text,
                              size_t cap)
{
    const s_peer *p = b->peer;
    const ot_store_reject_limits *l = &b->lim;
    char since[32] = "?";
    time_t t = (time_t)(p ? p->pending_since / 1000 : 0);
    struct tm tm;
    if (p && gmtime_r(&t, &tm))
        strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int w = snprintf(text, cap,
                     "%" PRIu64 " rejected events of this peer not kept one by one since %s "
                     "(%" PRIu64 " in this message; over the reject budget: %" PRIu64 " rows / "
                     "%" PRIu64 " KiB a message, %" PRIu64 " rows / %" PRIu64 " KiB a peer and "
                     "%" PRIu64 " rows / %" PRIu64 " KiB in all per %" PRId64 " s); each was "
                     "answered REJECTED with its reason; raw: a sample; by reason: ",
                     p ? p->pending : 0, since, in_message, l->msg_rows, l->msg_bytes >> 10,
                     l->peer_rows, l->peer_bytes >> 10, l->all_rows, l->all_bytes >> 10,
                     l->window_ms / 1000);
    size_t o = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;
    if (!p)
        return;
    o = s_counts(text, cap, o, &optally__reject_reason__descriptor, p->by_reason, S_NREASON, "");
    s_counts(text, cap, o, &optally__batch_error__descriptor, p->by_error, S_NBERR,
             " (message)");
}

bool
ot_reject_budget_take_summary(ot_reject_budget *b, uint64_t cost)
{
    s_peer *p = s_peer_of(b);
    const ot_store_reject_limits *l = &b->lim;
    if (!s_fits(p, l->peer_rows, l->peer_bytes, cost, 0, 0) ||
        !s_fits(&b->all, l->all_rows, l->all_bytes, cost, 0, 0))
        return false;
    s_charge(p, cost);
    s_charge(&b->all, cost);
    p->pending = 0;
    memset(p->by_reason, 0, sizeof p->by_reason);
    memset(p->by_error, 0, sizeof p->by_error);
    return true;
}
