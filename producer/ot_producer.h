/*
 * ot_producer: the sending side of the ingest protocol, as a small library a
 * C scraper can link (the `optally produce` CLI is a thin layer over it).
 *
 * Events, and point-in-time figures (ot_producer_submit_figure), are
 * packed into EventBatch messages (events in `events`, figures in
 * `figures`) of up to `batch` items, events and figures together, and
 * OT_PRODUCER_BATCH_BYTES (never past max_msg_size), each with a fresh
 * batch_id, and sent on a ZMQ_DEALER socket with up to `window` batches in
 * flight. An item that cannot fit a message alone is REJECTED
 * (STRING_TOO_LONG) locally, and the items after it are sent as usual. A batch without a reply after timeout_ms is sent again
 * (safe: the consumer deduplicates) up to `retries` times; a batch-level
 * error that means "try later" (STORAGE_FULL, SHUTTING_DOWN, STORAGE_ERROR)
 * is retried the same way. Late replies to an already answered batch are
 * ignored. Each item's outcome reaches the on_result callback exactly once,
 * with the tag it was submitted with, in no particular order across
 * batches, in order within a batch for each kind (the consumer answers
 * figures in IngestReply.figure_results, by position; a reply that does not
 * answer every figure, as a consumer older than figures sends, answers the
 * whole batch REJECTED, saying so).
 *
 * Socket options: ZMQ_IMMEDIATE (never queue onto a connection that is not
 * up), a finite ZMQ_LINGER, so no send vanishes silently.
 */
#ifndef OT_PRODUCER_H
#define OT_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"

typedef struct ot_producer ot_producer;

/* The most batches a producer keeps in flight (ot_producer_options.window). */
#define OT_PRODUCER_WINDOW_MAX   1024
/* A batch is sealed before its message would pass this many bytes (or
 * max_msg_size, when smaller), whatever `batch` says. */
#define OT_PRODUCER_BATCH_BYTES  (1 << 20)
/* The consumer's default --max-msg-size: the default of max_msg_size. */
#define OT_PRODUCER_DEFAULT_MAX_MSG ((int64_t)4 << 20)
/* The smallest max_msg_size accepted (room for one small event). */
#define OT_PRODUCER_MIN_MAX_MSG  1024

/* Outcome of one event or figure. status is an IngestStatus; for REJECTED, reason and
 * text say why (text is borrowed for the duration of the call). seq is the
 * log sequence the consumer gave it (0 when none). */
typedef void (*ot_producer_result_fn)(void *ctx, uint64_t tag,
                                      Optally__IngestStatus status,
                                      Optally__RejectReason reason,
                                      const char *text, uint64_t seq);

typedef struct ot_producer_options {
    const char *endpoint;     /* default "tcp://127.0.0.1:7710" when NULL */
    size_t batch;             /* items (events + figures) per batch, 1..10000; 0 = 1000 */
    int timeout_ms;           /* per attempt; 0 = 5000 */
    int retries;              /* re-sends of one batch; <0 = 3 */
    int window;               /* batches in flight, 1..OT_PRODUCER_WINDOW_MAX; 0 = 8 */
    /* The largest message the consumer takes (its --max-msg-size; a bigger
     * one makes it drop the connection). 0 = OT_PRODUCER_DEFAULT_MAX_MSG;
     * else at least OT_PRODUCER_MIN_MAX_MSG. Batches are sealed by bytes to
     * stay within it, and an event too big for a message of its own is
     * refused here: on_result gets REJECTED / STRING_TOO_LONG for its tag
     * from inside ot_producer_submit, and nothing is sent for it. */
    int64_t max_msg_size;
    ot_producer_result_fn on_result;
    void *ctx;
    /* CurveZMQ (all three or none), Z85 text of 40 characters each: the
     * consumer's public key and this producer's key pair (ot_keys.h reads
     * them from `optally keygen` files). */
    const char *server_key;
    const char *client_public;
    const char *client_secret;
} ot_producer_options;

/* Connect a producer. OUT: *out, owned, closed with ot_producer_close().
 * Returns 0, or OT_ETRANSPORT / ENOMEM / EINVAL (bad options). */
int
ot_producer_open(const ot_producer_options *opt, ot_producer **out);

/* Queue a copy of ev (ev stays the caller's). Sends a batch when one is
 * full; when `window` batches are in flight, waits for replies first.
 * Returns 0, or OT_ETIMEOUT when a batch stayed unanswered after every
 * retry (the consumer is unreachable: a transport failure), or
 * OT_ETRANSPORT / ENOMEM. After an error the producer can only be closed. */
int
ot_producer_submit(ot_producer *p, const Optally__OperationEvent *ev, uint64_t tag);

/* Queue a copy of the figure f (f stays the caller's), as ot_producer_submit
 * does an event: same batches, same limits, same retries and returns; its
 * outcome reaches on_result with tag. */
int
ot_producer_submit_figure(ot_producer *p, const Optally__Figure *f, uint64_t tag);

/* Send the partial batch and wait until every batch is answered.
 * Returns as ot_producer_submit. */
int
ot_producer_flush(ot_producer *p);

/* Wait up to timeout_ms (>= 0; 0: do not wait) for replies and handle them
 * (on_result, resends that are due) without submitting. The batch being
 * filled is not sent. Returns once replies that arrived were handled, or
 * when timeout_ms passed (earlier when a resend fell due), so a caller that
 * paces its submits can see each reply when it comes. Returns as
 * ot_producer_submit. */
int
ot_producer_poll(ot_producer *p, int timeout_ms);

/* After OT_ESTORAGE: the consumer's last batch error, e.g.
 * "STORAGE_FULL: storage full: ..." ("" otherwise). Lives as long as p. */
const char *
ot_producer_error_text(const ot_producer *p);

/* Batches sent more than once so far (for the CLI's summary). */
uint64_t
ot_producer_resends(const ot_producer *p);

/* Close the socket (events not flushed are dropped); sets *p to NULL;
 * safe on NULL. */
void
ot_producer_close(ot_producer **p);

#endif
