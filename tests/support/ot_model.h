/*
 * ot_model: the in-memory model of the exactly-once fold that the store and
 * rebuild tests check against (one copy for both).
 *
 * The model keeps the current revision of each of `nids` event ids and
 * makes random events against it: new ids, exact re-sends, corrections and
 * retractions (higher revisions), late older revisions, and conflicts (same
 * revision, other content), each with the status the store must answer.
 * Its tallies are the simple fold: every current, non-retracted event added
 * to its key in every view, one event at a time.
 */
#ifndef OT_MODEL_H
#define OT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_store.h"

#define OT_MODEL_NIDS_MAX 400

typedef struct m_event {
    bool present;
    char id[32];
    uint32_t rev;
    bool retracted;
    char country[3];
    char date[16];
    char pf[8];
    uint32_t ops, killed, detained, wounded;
} m_event;

typedef struct ot_model {
    int nids;                         /* ids "<prefix>-0" .. "<prefix>-(nids-1)" */
    char prefix[8];
    m_event cur[OT_MODEL_NIDS_MAX];   /* current revision of each id */
} ot_model;

/* An empty model over nids (<= OT_MODEL_NIDS_MAX) ids named prefix-N. */
void
ot_model_init(ot_model *mo, int nids, const char *prefix);

/* Make one random event (rand()) and return the status the store must
 * give it; the model takes the event when it becomes current. */
Optally__IngestStatus
ot_model_next(ot_model *mo, m_event *out);

/* The event as a message; strings point into m. */
void
ot_model_to_pb(const m_event *m, Optally__OperationEvent *ev);

/* Ingest n model events as one group into s; every status must be the
 * model's (a conflict with reason CONFLICT). cmocka assertions. */
void
ot_model_ingest(ot_store *s, ot_model *mo, size_t n);

/* Every tally of s equals the model's, and s has no other. */
void
ot_model_assert_tallies(ot_store *s, const ot_model *mo);

#endif
