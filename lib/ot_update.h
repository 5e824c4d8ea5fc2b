/*
 * ot_update: the messages of live subscriptions as they go on the wire,
 * written in one place (STYLE rule 11): TallyUpdate (one changed tally, on
 * the consumer's PUB socket and as a row of a snapshot), Heartbeat, and the
 * SnapshotReply of the snapshot service. The publisher and the snapshot
 * service (consumer/) send them; the subscriber (subscriber/) reads them
 * and converts their counters back with ot_update_counts_from_pb; a test
 * that plays the consumer builds them with this very code.
 *
 * Knows protobuf-c and the views (a TallyUpdate carries the view name, its
 * fields and the unescaped values of the key), never a socket or LMDB. The
 * sequences come in as plain arrays: view_seq[i] is the sequence of view
 * ot_view_at(i) (the store keeps them in ot_store_seqs).
 *
 * Invariant: a key that no view of this build knows never becomes a
 * message (the fill refuses it), so every TallyUpdate sent names its view,
 * fields and values consistently with ot_view_key_split.
 */
#ifndef OT_UPDATE_H
#define OT_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_event.h"
#include "ot_figure.h"
#include "ot_json.h"
#include "ot_view.h"
#include "optally.pb-c.h"

/* The topic of heartbeats on the update stream ('~' sorts after every view
 * name, and no tally key starts with it). */
#define OT_UPDATE_HEARTBEAT_TOPIC "~heartbeat"

/* Bytes a packed TallyUpdate can take at most: keys are bounded by
 * OT_VIEW_KEY_MAX, so ~1.4 KiB is the real worst case. */
#define OT_UPDATE_TALLY_MAX 4096

/* Bytes a packed Heartbeat or the closing part of a SnapshotReply can take
 * at most: a ViewSeq (tag, length, name, varint) for each of OT_VIEWSET_MAX
 * views with names of OT_VIEW_NAME_MAX bytes. */
#define OT_UPDATE_SEQS_MAX 8192
_Static_assert(OT_VIEWSET_MAX * (OT_VIEW_NAME_MAX + 16) + 32 <= OT_UPDATE_SEQS_MAX,
               "OT_UPDATE_SEQS_MAX holds every view's sequence");

/* Field number of SnapshotReply.tallies: the snapshot service appends rows
 * as wire bytes, one at a time (checked against the descriptor in
 * tests/test_publish.c). */
#define OT_UPDATE_FIELD_REPLY_TALLIES 1

/* A TallyUpdate with the storage its pointers point into. Filled by
 * ot_update_tally_fill; lives on the caller's stack; nothing to free. */
typedef struct ot_update_tally {
    Optally__TallyUpdate u;             /* the message; u.seq, u.view_seq and
                                         * u.committed_at are for the caller */
    Optally__Counts counts, delta;      /* u.counts, u.delta point here */
    char *fields[OT_VIEW_MAX_FIELDS];   /* u.fields: the view's field names */
    char *values[OT_VIEW_MAX_FIELDS];   /* u.values: into valbuf */
    char key[OT_VIEW_KEY_MAX + 1];      /* u.key, NUL-terminated */
    char valbuf[OT_VIEW_KEY_MAX + 1];   /* the unescaped values */
} ot_update_tally;

/* Here and below, vs is the views the keys belong to (a store's set,
 * ot_viewset; NULL: the built-in views alone).
 *
 * Fill m for the tally key (len bytes, need not be NUL-terminated) with
 * counters c, and delta d when not NULL (updates; snapshot rows have none).
 * The sequences and the commit time are left 0 for the caller to set.
 * Returns 0; EINVAL (key longer than OT_VIEW_KEY_MAX, or malformed) or
 * OT_ENOTFOUND (no view of that name); on failure m is undefined. */
int
ot_update_tally_fill(ot_update_tally *m, const ot_viewset *vs, const char *key, size_t len,
                     const ot_counts *c, const ot_counts *d);

/* Pack m->u into buf (cap bytes; OT_UPDATE_TALLY_MAX always suffice).
 * OUT: *out_len. Returns 0, or ENOSPC when cap is too small. */
int
ot_update_tally_pack(const ot_update_tally *m, uint8_t *buf, size_t cap, size_t *out_len);

/* Counters between ot_counts and the message. to_pb initialises out;
 * from_pb takes NULL (an absent field) as all zero. */
void
ot_update_counts_to_pb(const ot_counts *c, Optally__Counts *out);
void
ot_update_counts_from_pb(const Optally__Counts *c, ot_counts *out);

/* Fill arr/ptrs (room for OT_VIEWSET_MAX entries each) with one ViewSeq
 * per view of vs whose slot i < n: its name, view_seq[i]. Pointers into arr
 * and vs's names (borrowed as vs's views). Returns the entries filled. */
size_t
ot_update_view_seqs_fill(const ot_viewset *vs, const uint64_t *view_seq, size_t n,
                         Optally__ViewSeq *arr, Optally__ViewSeq **ptrs);

/* Pack a Heartbeat: the store-wide seq, view_seq[0..n) (see above), the
 * figure_seq of the last figure update published, and
 * sent_at (unix ms, wall clock: shown, never compared) into buf (cap bytes;
 * OT_UPDATE_SEQS_MAX suffice). OUT: *out_len. Returns 0 or ENOSPC. */
int
ot_update_heartbeat_pack(const ot_viewset *vs, uint64_t seq, const uint64_t *view_seq, size_t n,
                         uint64_t figure_seq, int64_t sent_at, uint8_t *buf, size_t cap,
                         size_t *out_len);

/* Bytes one row of a SnapshotReply (tag, length, TallyUpdate) takes at
 * most; a chunk with room for one more row and OT_UPDATE_SEQS_MAX can
 * always be ended. */
#define OT_UPDATE_REPLY_ROW_MAX (OT_UPDATE_TALLY_MAX + 32)

/* A SnapshotReply assembled as wire bytes in b, so a snapshot of many rows
 * costs one buffer, not a tree of structs: any number of ot_update_reply_row
 * calls, then ot_update_reply_chunk (more messages follow) or
 * ot_update_reply_end (the last message). b is the caller's (start it
 * empty; after sending a chunk, start the next one empty again).
 *
 * Append the row of tally key (len bytes) with counters c.
 * Returns 0; ENOMEM (b keeps what it had); EINVAL or OT_ENOTFOUND for a key
 * of no known view (nothing appended: the caller may skip the row). */
int
ot_update_reply_row(ot_buf *b, const ot_viewset *vs, const char *key, size_t len,
                    const ot_counts *c);

/* End a message that is not the last: chunk = its index in the reply
 * (0, 1, ...). Returns 0 or ENOMEM. */
int
ot_update_reply_chunk(ot_buf *b, uint32_t chunk);

/* End the last message: last = true, chunk (its index), rows (the rows of
 * all messages of the reply), seq, and view_seq[0..n). Adds at most
 * OT_UPDATE_SEQS_MAX bytes. Returns 0 or ENOMEM. */
int
ot_update_reply_end(ot_buf *b, const ot_viewset *vs, uint32_t chunk, uint64_t rows,
                    uint64_t seq, const uint64_t *view_seq, size_t n);

/* Replace b's content with a refusal: last = true, error = text (valid
 * UTF-8, at most 400 bytes; longer is cut), retry (true: a passing failure,
 * ask again later; false: the request itself is wrong).
 * Returns 0 or ENOMEM (b is then empty). */
int
ot_update_reply_error(ot_buf *b, const char *text, bool retry);

/* ---- FigureUpdate ------------------------------------------------------
 *
 * A figure as a commit stored or revised it (status STORED or SUPERSEDED),
 * on the PUB socket under the topic OT_UPDATE_FIGURE_TOPIC + metric
 * ("~figure/fighters_at_large"): a subscriber to "~figure/" gets them all,
 * and no tally key or the heartbeat starts with it. */
#define OT_UPDATE_FIGURE_TOPIC "~figure/"

/* Bytes of the longest topic of a figure update, NUL included: a valid
 * figure's metric is at most OT_FIGURE_METRIC_MAX bytes. */
#define OT_UPDATE_FIGURE_TOPIC_MAX (sizeof OT_UPDATE_FIGURE_TOPIC + OT_FIGURE_METRIC_MAX)

/* Pack the FigureUpdate of figure f (borrowed, packed as it is, unknown
 * fields included: strip them first if they must not travel), its log seq,
 * the store-wide figure_seq and committed_at (unix ms of the commit).
 * OUT: *out (malloc'd, the caller frees it) and *out_len. Returns 0 or
 * ENOMEM (*out NULL). A figure is bounded by its validated string limits
 * (~40 KiB), so the size is not capped here. */
int
ot_update_figure_pack(const Optally__Figure *f, uint64_t log_seq, uint64_t figure_seq,
                      int64_t committed_at, uint8_t **out, size_t *out_len);

/* The topic of f's update into buf (cap bytes; OT_UPDATE_FIGURE_TOPIC_MAX
 * suffice for a valid figure), NUL-terminated. OUT: *out_len (without the
 * NUL). Returns 0, or ENOSPC (a metric too long for cap; buf untouched). */
int
ot_update_figure_topic(const Optally__Figure *f, char *buf, size_t cap, size_t *out_len);

#endif
