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
 * An entry is 16 bytes (hash, seq) in one of 256 open-addressing shards
 * (chosen by the hash's top byte), each kept at most 3/4 full: 21-43 bytes
 * per distinct id. Why shards: a table grows by doubling and rehashing,
 * which pauses the writer; one big table paused every ack for 30-45 ms at
 * 786k ids and 0.3-0.4 s at 6.3M ids (bench/, docs/PERFORMANCE.md). A shard
 * holds 1/256 of the ids, so a growth pause is 256 times shorter.
 * Several ids may share a 64-bit hash; the caller tells them apart by
 * reading the log record at seq.
 *
 * Transactions: changes are journaled by key (hash, seq), not by slot, so a
 * shard may grow in the middle of a transaction; ot_idindex_rollback()
 * undoes them in reverse order (deleting with backward shift), and
 * ot_idindex_commit() forgets the journal. A rollback restores the set of
 * entries as it was at the last commit.
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

/* Make journal room for `more` changes (call before a transaction that
 * makes up to `more` inserts or sets). Returns 0 or ENOMEM (nothing
 * changed). */
int
ot_idindex_reserve(ot_idindex *ix, size_t more);

/* Iterate the entries whose hash is h: start with *cursor = 0; each true
 * return gives one candidate seq and leaves its position in *cursor for
 * ot_idindex_set() (valid until the next insert). */
bool
ot_idindex_next(const ot_idindex *ix, uint64_t h, size_t *cursor, uint64_t *seq);

/* Point the entry at the position (from ot_idindex_next) at a new seq. */
void
ot_idindex_set(ot_idindex *ix, size_t cursor, uint64_t seq);

/* Add an entry; journal room must have been reserved. Returns 0, or ENOMEM
 * when its shard had to grow and could not (nothing changed). */
int
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
