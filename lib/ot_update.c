/*
 * ot_update: the messages of live subscriptions (see ot_update.h).
 *
 * A SnapshotReply is built as wire bytes: each row is one occurrence of the
 * repeated field `tallies` (tag, length, packed TallyUpdate), and the end is
 * a packed SnapshotReply without rows appended behind them. Protobuf merges
 * the concatenation into one message, so the client sees every row and the
 * closing fields. Each append is a single ot_buf_append, so a failed one
 * leaves the buffer as it was.
 */
#include "ot_update.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_wire.h"

#define S_ERROR_TEXT_MAX 400    /* bytes of a refusal's text */
/* A message holding the sequences needs one ViewSeq per view: at most
 * OT_VIEWSET_MAX (a store's views), so a fixed array on the stack holds
 * them all. */
#define S_VIEWS_MAX      OT_VIEWSET_MAX

int
ot_update_tally_fill(ot_update_tally *m, const ot_viewset *vs, const char *key, size_t len,
                     const ot_counts *c, const ot_counts *d)
{
    assert(m && key && c);
    const ot_view *v;
    const char *vals[OT_VIEW_MAX_FIELDS];
    if (len > OT_VIEW_KEY_MAX)
        return EINVAL;
    int rc = ot_viewset_key_split(vs, key, len, &v, vals, m->valbuf, sizeof m->valbuf);
    if (rc != 0)
        return rc;
    optally__tally_update__init(&m->u);
    memcpy(m->key, key, len);
    m->key[len] = 0;
    m->u.view = (char *)v->name;
    m->u.key = m->key;
    for (int i = 0; i < v->nfields; i++) {
        m->fields[i] = (char *)v->fields[i];
        m->values[i] = (char *)vals[i];
    }
    m->u.n_fields = m->u.n_values = (size_t)v->nfields;
    m->u.fields = m->fields;
    m->u.values = m->values;
    ot_update_counts_to_pb(c, &m->counts);
    m->u.counts = &m->counts;
    if (d) {
        ot_update_counts_to_pb(d, &m->delta);
        m->u.delta = &m->delta;
    }
    return 0;
}

int
ot_update_tally_pack(const ot_update_tally *m, uint8_t *buf, size_t cap, size_t *out_len)
{
    size_t n = optally__tally_update__get_packed_size(&m->u);
    if (n > cap)
        return ENOSPC;
    *out_len = optally__tally_update__pack(&m->u, buf);
    return 0;
}

void
ot_update_counts_to_pb(const ot_counts *c, Optally__Counts *out)
{
    optally__counts__init(out);
    out->events = c->events;
    out->operations = c->operations;
    out->killed = c->killed;
    out->detained = c->detained;
    out->wounded = c->wounded;
    out->killed_low = c->killed_low;
    out->killed_high = c->killed_high;
}

void
ot_update_counts_from_pb(const Optally__Counts *c, ot_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->events = c->events;
    out->operations = c->operations;
    out->killed = c->killed;
    out->detained = c->detained;
    out->wounded = c->wounded;
    out->killed_low = c->killed_low;
    out->killed_high = c->killed_high;
}

size_t
ot_update_view_seqs_fill(const ot_viewset *vs, const uint64_t *view_seq, size_t n,
                         Optally__ViewSeq *arr, Optally__ViewSeq **ptrs)
{
    size_t k = 0, count = ot_viewset_count(vs);
    for (size_t i = 0; i < count && i < n && k < S_VIEWS_MAX; i++) {
        const ot_view *v = ot_viewset_at(vs, i);
        if (!v)
            continue;   /* a free slot (a dropped view) */
        optally__view_seq__init(&arr[k]);
        arr[k].view = (char *)v->name;
        arr[k].view_seq = view_seq[i];
        ptrs[k] = &arr[k];
        k++;
    }
    return k;
}

int
ot_update_heartbeat_pack(const ot_viewset *vs, uint64_t seq, const uint64_t *view_seq, size_t n,
                         uint64_t figure_seq, int64_t sent_at, uint8_t *buf, size_t cap,
                         size_t *out_len)
{
    Optally__Heartbeat hb = OPTALLY__HEARTBEAT__INIT;
    Optally__ViewSeq arr[S_VIEWS_MAX], *ptrs[S_VIEWS_MAX];
    hb.seq = seq;
    hb.n_views = ot_update_view_seqs_fill(vs, view_seq, n, arr, ptrs);
    hb.views = ptrs;
    hb.sent_at = sent_at;
    hb.figure_seq = figure_seq;
    if (optally__heartbeat__get_packed_size(&hb) > cap)
        return ENOSPC;
    *out_len = optally__heartbeat__pack(&hb, buf);
    return 0;
}

int
ot_update_reply_row(ot_buf *b, const ot_viewset *vs, const char *key, size_t len,
                    const ot_counts *c)
{
    ot_update_tally m;
    uint8_t buf[OT_UPDATE_REPLY_ROW_MAX];
    _Static_assert(2 * OT_WIRE_VARINT_MAX + OT_UPDATE_TALLY_MAX <= OT_UPDATE_REPLY_ROW_MAX,
                   "a row fits OT_UPDATE_REPLY_ROW_MAX");
    int rc = ot_update_tally_fill(&m, vs, key, len, c, NULL);
    if (rc != 0)
        return rc;
    size_t n = optally__tally_update__get_packed_size(&m.u);
    assert(n <= OT_UPDATE_TALLY_MAX);   /* keys are bounded (see ot_update.h) */
    size_t off = ot_wire_put_varint(buf, OT_WIRE_TAG(OT_UPDATE_FIELD_REPLY_TALLIES, OT_WIRE_LEN));
    off += ot_wire_put_varint(buf + off, n);
    off += optally__tally_update__pack(&m.u, buf + off);
    return ot_buf_append(b, (const char *)buf, off);
}

int
ot_update_reply_chunk(ot_buf *b, uint32_t chunk)
{
    Optally__SnapshotReply end = OPTALLY__SNAPSHOT_REPLY__INIT;
    uint8_t buf[16];
    end.chunk = chunk;
    assert(optally__snapshot_reply__get_packed_size(&end) <= sizeof buf);
    size_t len = optally__snapshot_reply__pack(&end, buf);
    return ot_buf_append(b, (const char *)buf, len);
}

int
ot_update_reply_end(ot_buf *b, const ot_viewset *vs, uint32_t chunk, uint64_t rows,
                    uint64_t seq, const uint64_t *view_seq, size_t n)
{
    Optally__SnapshotReply end = OPTALLY__SNAPSHOT_REPLY__INIT;
    Optally__ViewSeq arr[S_VIEWS_MAX], *ptrs[S_VIEWS_MAX];
    uint8_t buf[OT_UPDATE_SEQS_MAX];
    end.last = true;
    end.chunk = chunk;
    end.rows = rows;
    end.seq = seq;
    end.n_views = ot_update_view_seqs_fill(vs, view_seq, n, arr, ptrs);
    end.views = ptrs;
    assert(optally__snapshot_reply__get_packed_size(&end) <= sizeof buf);
    size_t len = optally__snapshot_reply__pack(&end, buf);
    return ot_buf_append(b, (const char *)buf, len);
}

int
ot_update_reply_error(ot_buf *b, const char *text, bool retry)
{
    char cut[S_ERROR_TEXT_MAX + 1];
    size_t tl = strlen(text);
    if (tl > S_ERROR_TEXT_MAX) {
        /* Cut before a UTF-8 continuation byte, so the string stays valid
         * (a client in another language refuses a message that is not). */
        tl = S_ERROR_TEXT_MAX;
        while (tl > 0 && ((unsigned char)text[tl] & 0xC0) == 0x80)
            tl--;
    }
    memcpy(cut, text, tl);
    cut[tl] = 0;
    Optally__SnapshotReply r = OPTALLY__SNAPSHOT_REPLY__INIT;
    uint8_t buf[S_ERROR_TEXT_MAX + 64];
    r.last = true;
    r.error = cut;
    r.retry = retry;
    assert(optally__snapshot_reply__get_packed_size(&r) <= sizeof buf);
    size_t n = optally__snapshot_reply__pack(&r, buf);
    b->len = 0;
    return ot_buf_append(b, (const char *)buf, n);
}

int
ot_update_figure_pack(const Optally__Figure *f, uint64_t log_seq, uint64_t figure_seq,
                      int64_t committed_at, uint8_t **out, size_t *out_len)
{
    Optally__FigureUpdate u = OPTALLY__FIGURE_UPDATE__INIT;
    size_t n;

    assert(f != NULL && out != NULL && out_len != NULL);
    *out = NULL;
    /* The message only reads f; protobuf-c's struct wants a non-const one. */
    u.figure = (Optally__Figure *)f;
    u.log_seq = log_seq;
    u.figure_seq = figure_seq;
    u.committed_at = committed_at;
    n = optally__figure_update__get_packed_size(&u);
    if ((*out = malloc(n ? n : 1)) == NULL)
        return ENOMEM;
    *out_len = optally__figure_update__pack(&u, *out);
    assert(*out_len == n);
    return 0;
}

int
ot_update_figure_topic(const Optally__Figure *f, char *buf, size_t cap, size_t *out_len)
{
    const char *m = f->metric ? f->metric : "";
    size_t pl = sizeof OT_UPDATE_FIGURE_TOPIC - 1, ml = strlen(m);

    assert(f != NULL && buf != NULL && out_len != NULL);
    if (pl + ml + 1 > cap)
        return ENOSPC;
    memcpy(buf, OT_UPDATE_FIGURE_TOPIC, pl);
    memcpy(buf + pl, m, ml + 1);
    *out_len = pl + ml;
    return 0;
}
