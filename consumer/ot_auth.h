/*
 * ot_auth: CurveZMQ for the consumer's sockets and the ZAP handler that
 * decides who may connect.
 *
 * With a server key pair configured, every server socket (ingest, publish,
 * snapshot) is a CURVE server with a ZAP domain, and ZMQ_ZAP_ENFORCE_DOMAIN
 * is set. A ZAP handler thread (inproc://zeromq.zap.01, RFC 27) accepts a
 * client only when its public key is in the allow-list of that socket's
 * domain: "ingest" (producers) or "subscribe" (subscribers). Why both
 * settings: libzmq 4.3.4 with CURVE and no ZAP handler accepts ANY client
 * key; enforcing the domain makes a missing handler fail closed.
 * Without keys, sockets use the NULL mechanism (plain TCP, for loopback).
 * Every server socket gets a short ZMQ_HANDSHAKE_IVL so an unauthenticated
 * peer cannot hold a connection half-open for long.
 *
 * What it says on stderr ("optally consume: ..."): each key loaded (file
 * name and public key, never a secret: an audit of who may connect, said
 * even under --quiet, once per start), each file of an
 * allow-list directory that is ignored and why (always), and the
 * handshakes the ZAP handler refuses: at most one line a second
 * (OT_AUTH_REFUSAL_LOG_MS), with how many were refused since the line
 * before and the last one's domain, peer address and client key. A flood
 * of refused clients costs one line a second, not one a connection.
 */
#ifndef OT_AUTH_H
#define OT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OT_AUTH_DOMAIN_INGEST     "ingest"
#define OT_AUTH_DOMAIN_SUBSCRIBE  "subscribe"
#define OT_AUTH_HANDSHAKE_MS      3000
#define OT_AUTH_REFUSAL_LOG_MS    1000   /* at most one refusal line per interval */

typedef struct ot_auth ot_auth;

typedef struct ot_auth_options {
    const char *curve_secret;   /* server key pair file (NAME.key) */
    const char *allow_keys;     /* directory of producers' (and, by default, subscribers') public keys */
    const char *allow_sub_keys; /* directory of subscribers' public keys; NULL = allow_keys */
} ot_auth_options;

/* Load keys and start the ZAP handler on zctx (before any server socket
 * binds). The server key file must be readable by its owner only (else
 * EPERM: "permissions 0644 for 'x.key' are too open ... chmod 600 x.key");
 * an allow-list is the NAME.pub files of its directory (ot_keyset_load_noted),
 * each one loaded told on stderr, other entries warned about. OUT: *out.
 * Returns 0, or an errno / EINVAL / EPERM with a message in err (errcap
 * bytes) naming the file or directory and what to do. */
int
ot_auth_start(void *zctx, const ot_auth_options *opt, ot_auth **out, char *err, size_t errcap);

/* Make sock a CURVE server of domain (when a is not NULL) and set the
 * handshake interval. Returns 0 or OT_ETRANSPORT. */
int
ot_auth_apply(const ot_auth *a, void *sock, const char *domain);

/* Connections accepted and refused by the ZAP handler. */
void
ot_auth_counts(const ot_auth *a, uint64_t *accepted, uint64_t *refused);

/* True when endpoint is tcp:// on an address other than loopback. */
bool
ot_auth_endpoint_public(const char *endpoint);

void
ot_auth_stop(ot_auth **a);

#endif
