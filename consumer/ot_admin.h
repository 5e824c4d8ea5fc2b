/*
 * ot_admin: the consumer's admin requests (AdminRequest / AdminReply,
 * proto/optally.proto) and the file that tells clients where to send them.
 *
 * The consumer binds a ROUTER at its admin endpoint (default
 * ipc://DATA/admin.sock: the data directory is 0700, so only its owner can
 * connect; with --curve-secret a CURVE server of the "ingest" domain, the
 * producers' allow-list). The receiver thread takes a request (at most
 * OT_ADMIN_REQUEST_MAX bytes) and hands it to the writer thread, which owns
 * the store: ot_admin_handle runs it there, between two ingest commits, so
 * ingest waits while a view is filled (one write transaction).
 *
 * The endpoint file (one owner of the format: this module):
 *   DATA/admin.endpoint   line 1: the endpoint as bound ("ipc:///abs/DATA/admin.sock")
 *                         line 2 (CURVE only): "curve-server-key <Z85 public key>"
 * written after the bind (temp file + rename: a reader sees all or nothing),
 * removed on a clean exit. A file left by a killed consumer is stale: a
 * client first checks that a consumer holds DIR (its writer.lock).
 */
#ifndef OT_ADMIN_H
#define OT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optally.pb-c.h"
#include "ot_store.h"

#define OT_ADMIN_ENDPOINT_FILE "admin.endpoint"
#define OT_ADMIN_SOCK_FILE     "admin.sock"
#define OT_ADMIN_REQUEST_MAX   65536   /* bytes of one request; more drops the peer */
#define OT_ADMIN_ENDPOINT_MAX  512     /* bytes of an endpoint in the file, NUL included */
#define OT_ADMIN_KEY_LEN       40      /* Z85 public key */

/* What DATA/admin.endpoint says. */
typedef struct ot_admin_endpoint {
    char endpoint[OT_ADMIN_ENDPOINT_MAX];
    char server_key[OT_ADMIN_KEY_LEN + 1];   /* "" without CURVE */
} ot_admin_endpoint;

/* The default admin endpoint of data_dir: "ipc://" + its absolute path +
 * "/admin.sock" into buf (cap bytes). Returns 0, ENAMETOOLONG (the path does
 * not fit a unix socket address, 107 bytes: use --admin), or the errno of
 * resolving data_dir (it must exist). */
int
ot_admin_default_endpoint(const char *data_dir, char *buf, size_t cap);

/* Write DATA/admin.endpoint atomically (temp file, fsync, rename), mode
 * 0600. server_key: Z85 public key, or NULL / "" without CURVE. Returns 0
 * or an errno (nothing is left behind on failure). */
int
ot_admin_endpoint_write(const char *data_dir, const char *endpoint, const char *server_key);

/* Read DATA/admin.endpoint. OUT: *out. Returns 0, ENOENT (no file: no
 * consumer with an admin socket has run here, or it exited cleanly),
 * OT_ECORRUPT (not the format above), or another errno. */
int
ot_admin_endpoint_read(const char *data_dir, ot_admin_endpoint *out);

/* Remove DATA/admin.endpoint (a missing file is fine). */
void
ot_admin_endpoint_remove(const char *data_dir);

/* Run one packed AdminRequest (req, len bytes) against store s (a writer:
 * the consumer's writer thread) and pack its AdminReply.
 *   VIEW_ADD   ot_store_view_add: fills the view from the whole log in one
 *              write transaction; the reply carries the definition as
 *              stored, filled_events, log_seq and seconds;
 *   VIEW_DROP  ot_store_view_drop;
 *   VIEW_LIST  the declared views (built-in ones have no ViewDef).
 * A request that is wrong (undecodable, no op, a bad or taken name, an
 * unknown view, too many views) is answered ok=false, usage=true with a
 * sentence saying why; a store failure ok=false, usage=false.
 * OUT: *reply (malloc'd, the caller frees it), *reply_len; *views_changed
 * (optional): true when the store's views changed (publish with the new
 * set). Returns 0 (a reply was made, whatever it says), ENOMEM (no reply),
 * or OT_EFATAL (the store became unusable: a reply saying so is made too). */
int
ot_admin_handle(ot_store *s, const uint8_t *req, size_t len, uint8_t **reply, size_t *reply_len,
                bool *views_changed);

/* Pack an AdminReply that refuses a request without running it (ok=false;
 * request_id 0 when it is unknown). OUT: *reply (malloc'd), *reply_len.
 * Returns 0 or ENOMEM. */
int
ot_admin_refusal(uint64_t request_id, bool usage, const char *text, uint8_t **reply,
                 size_t *reply_len);

#endif
