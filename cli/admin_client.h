/*
 * admin_client: the CLI's side of the consumer's admin socket (see
 * consumer/ot_admin.h). `optally view add|drop` use it when a consumer
 * holds the data directory: the consumer, which owns the store, does the
 * work, and ingest goes on around it.
 *
 * Finding the consumer: DATA/admin.endpoint (written by the consumer after
 * it binds) names the endpoint and, with CURVE, the consumer's public key;
 * the client keys come from the same flags as produce (--curve-secret and
 * --server-key, or OPTALLY_CURVE_SECRET / OPTALLY_SERVER_KEY: cli_keys.h).
 * A file left by a consumer that was killed is told apart by the writer
 * lock: only a running consumer holds DATA/writer.lock.
 */
#ifndef OT_ADMIN_CLIENT_H
#define OT_ADMIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"
#include "ot_keys.h"

/* True in *yes when a process holds data_dir's writer lock (a consumer, or
 * a maintenance writer such as `optally rebuild`): tried with flock
 * LOCK_EX|LOCK_NB on a descriptor of its own, released at once. A
 * directory without writer.lock has no writer. Returns 0 or an errno
 * (the lock file cannot be opened for another reason). */
int
ot_admin_consumer_running(const char *data_dir, bool *yes);

/* Called about every 100 ms while a reply is awaited, with the time since
 * the request went out (for a spinner). Return false to give up. */
typedef bool (*ot_admin_wait_fn)(void *ctx, int64_t elapsed_ms);

/* Send req to the consumer that holds data_dir and wait for its reply.
 *   endpoint   NULL: the one in DATA/admin.endpoint (and the consumer must
 *              hold DIR's writer lock); else this endpoint;
 *   me         this client's CURVE key pair, or NULL;
 *   server     the consumer's public key (server->public_key), or NULL: the
 *              one DATA/admin.endpoint names. CURVE is used when the file
 *              names a key or server is given; it then needs me;
 *   timeout_ms > 0: give up after it; <= 0: wait as long as the consumer
 *              runs (a view fill may take minutes).
 * req->request_id 0 is replaced by a fresh one (the reply must echo it).
 * OUT: *out, the reply (free with optally__admin_reply__free_unpacked);
 * whether the work succeeded is in it (ok; usage: exit 64 with error).
 * On failure err (errlen bytes) holds one sentence saying why and what to do.
 * Returns 0; ENOENT (no consumer holds DIR, or it has no admin socket:
 * `consume --admin none`, or a maintenance writer holds it);
 * OT_EUSAGE (the consumer needs CURVE keys and none were given, or the
 * file is unreadable); OT_ETIMEOUT; ECONNRESET (the consumer stopped
 * before it answered: what was asked may or may not have been done);
 * ECANCELED (wait returned false); OT_ETRANSPORT; ENOMEM. */
int
ot_admin_call(const char *data_dir, const char *endpoint, const ot_keypair *me,
              const ot_keypair *server, const Optally__AdminRequest *req,
              Optally__AdminReply **out, int timeout_ms, char *err, size_t errlen);

/* ot_admin_call with a wait callback (may be NULL). */
int
ot_admin_call_wait(const char *data_dir, const char *endpoint, const ot_keypair *me,
                   const ot_keypair *server, const Optally__AdminRequest *req,
                   Optally__AdminReply **out, int timeout_ms, ot_admin_wait_fn wait,
                   void *wait_ctx, char *err, size_t errlen);

#endif
