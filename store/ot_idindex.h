/*
 * ot_idindex: the in-memory id index: event_id hash -> log sequence of the
 * id's current revision.
 *
 * Why in memory (see docs/PERFORMANCE.md and the performance issue): a
 * B-tree index keyed by random event ids dirties one 4 KiB page per new id,
 * so the durable cost per event grows with the id space. This index is not
 * durable state: it is rebuilt from the LMDB event log at start-up, so the
 * log and the tallies stay the only durable state and exactly-once holds.
 *
 * An entry is 16 bytes (hash, seq) in an open-addressing table kept at most
 * 3/4 full: 21-43 bytes per distinct id. Several ids may share a 64-bit
 * hash; the caller tells them apart by reading the log record at seq.
 *
 * Transactions: changes are journaled; ot_idindex_rollback() undoes them in
 * reverse order (exact, since the table never deletes and does not grow
 * between ot_idindex_reserve() and commit/rollback), ot_idindex_commit()
 * forgets the journal. A rollback restores the table as it was at the last
 * commit.
 */
#ifndef OT_IDINDEX_H
#define OT_IDINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct ot_idindex ot_idindex;

/* OUT: *out, an empty index. Returns 0 or ENOMEM. */
int
ot_idindex_new(ot_idindex **out);

void
ot_idindex_free(ot_idindex **ix);

/* Make room for `more` inserts without growing (call before a transaction
 * that may insert up to `more` ids). Returns 0 or ENOMEM (nothing changed). */
int
ot_idindex_reserve(ot_idindex *ix, size_t more);

/* Iterate the entries whose hash is h: start with *cursor = 0; each true
 * return gives one candidate seq and leaves its slot in *cursor for
 * ot_idindex_set(). */
bool
ot_idindex_next(const ot_idindex *ix, uint64_t h, size_t *cursor, uint64_t *seq);

/* Point the entry at the slot (from ot_idindex_next) at a new seq. */
void
ot_idindex_set(ot_idindex *ix, size_t cursor, uint64_t seq);

/* Add an entry; room must have been reserved. */
void
ot_idindex_insert(ot_idindex *ix, uint64_t h, uint64_t seq);

void
ot_idindex_commit(ot_idindex *ix);
void
ot_idindex_rollback(ot_idindex *ix);

/* Distinct ids held, and bytes of memory held. */
size_t
ot_idindex_count(const ot_idindex *ix);
size_t
ot_idindex_bytes(const ot_idindex *ix);

#endif
