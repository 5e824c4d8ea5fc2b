/*
 * ot_admin: admin requests run in the consumer's writer thread, and the
 * admin endpoint file (contracts in ot_admin.h).
 *
 * Invariant: a request changes the store only through ot_store_view_add /
 * ot_store_view_drop, each one write transaction; a request that is
 * refused (usage) changes nothing.
 */
#include "ot_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_clock.h"
#include "ot_error.h"
#include "ot_view.h"

#define S_UNIX_PATH_MAX 107   /* sun_path less its NUL */
#define S_ERR_MAX       512

int
ot_admin_default_endpoint(const char *data_dir, char *buf, size_t cap)
{
    char abs[PATH_MAX];
    if (!realpath(data_dir, abs))
        return errno;
    size_t need = strlen(abs) + 1 + strlen(OT_ADMIN_SOCK_FILE);
    if (need > S_UNIX_PATH_MAX)
        return ENAMETOOLONG;
    int n = snprintf(buf, cap, "ipc://%s/%s", abs, OT_ADMIN_SOCK_FILE);
    return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

static void
s_path(char *buf, size_t cap, const char *dir, const char *file)
{
    snprintf(buf, cap, "%s/%s", dir, file);
}

int
ot_admin_endpoint_write(const char *data_dir, const char *endpoint, const char *server_key)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    s_path(path, sizeof path, data_dir, OT_ADMIN_ENDPOINT_FILE);
    s_path(tmp, sizeof tmp, data_dir, OT_ADMIN_ENDPOINT_FILE ".tmp");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    char text[OT_ADMIN_ENDPOINT_MAX + 64];
    int n = server_key && server_key[0]
        ? snprintf(text, sizeof text, "%s\ncurve-server-key %s\n", endpoint, server_key)
        : snprintf(text, sizeof text, "%s\n", endpoint);
    int rc = 0;
    if (n < 0 || (size_t)n >= sizeof text)
        rc = ENAMETOOLONG;
    else if (write(fd, text, (size_t)n) != n)
        rc = errno ? errno : EIO;
    else if (fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    /* rename: a client reads the old file whole or the new one whole. */
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int
ot_admin_endpoint_read(const char *data_dir, ot_admin_endpoint *out)
{
    char path[PATH_MAX];
    memset(out, 0, sizeof *out);
    s_path(path, sizeof path, data_dir, OT_ADMIN_ENDPOINT_FILE);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno;
    char line[OT_ADMIN_ENDPOINT_MAX + 64];
    int rc = OT_ECORRUPT;
    if (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        if (n > 0 && n < sizeof out->endpoint && line[n] == '\n') {
            memcpy(out->endpoint, line, n);
            rc = 0;
        }
    }
    const char *tag = "curve-server-key ";
    if (rc == 0 && fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        line[n] = 0;
        if (strncmp(line, tag, strlen(tag)) != 0 || strlen(line + strlen(tag)) != OT_ADMIN_KEY_LEN)
            rc = OT_ECORRUPT;
        else
            memcpy(out->server_key, line + strlen(tag), OT_ADMIN_KEY_LEN + 1);
    }
    fclose(f);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

void
ot_admin_endpoint_remove(const char *data_dir)
{
    char path[PATH_MAX];
    s_path(path, sizeof path, data_dir, OT_ADMIN_ENDPOINT_FILE);
    unlink(path);
}

/* Pack rep into a fresh buffer. */
static int
s_pack(const Optally__AdminReply *rep, uint8_t **out, size_t *len)
{
    size_t n = optally__admin_reply__get_packed_size(rep);
    *out = malloc(n ? n : 1);
    if (!*out)
        return ENOMEM;
    *len = optally__admin_reply__pack(rep, *out);
    return 0;
}

int
ot_admin_refusal(uint64_t request_id, bool usage, const char *text, uint8_t **reply,
                 size_t *reply_len)
{
    Optally__AdminReply rep = OPTALLY__ADMIN_REPLY__INIT;
    rep.request_id = request_id;
    rep.usage = usage;
    rep.error = (char *)text;
    return s_pack(&rep, reply, reply_len);
}

/* The declared views of s into rep->views (pointers into *vs, which the
 * caller frees after packing). Returns 0 or the store's error. */
static int
s_list(ot_store *s, ot_viewset **vs, Optally__AdminReply *rep, Optally__ViewDef ***defs)
{
    int rc = ot_store_views(s, vs);
    if (rc != 0)
        return rc;
    size_t n = ot_viewset_count(*vs);
    *defs = calloc(n ? n : 1, sizeof **defs);
    if (!*defs)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const ot_view *v = ot_viewset_at(*vs, i);
        if (v && ot_view_is_declared(v) && ot_view_def(v))
            (*defs)[rep->n_views++] = (Optally__ViewDef *)ot_view_def(v);
    }
    rep->views = *defs;
    return 0;
}

/* Keep only the added view in rep->views (VIEW_ADD answers its definition
 * as stored: slot, created_at, filled_to_seq). */
static void
s_keep_named(Optally__AdminReply *rep, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < rep->n_views; i++)
        if (rep->views[i]->name && strcmp(rep->views[i]->name, name) == 0)
            rep->views[k++] = rep->views[i];
    rep->n_views = k;
}

/* True when every slot of the store's set is in use (the add would fail
 * with ENOSPC for that reason rather than a full disk). */
static bool
s_views_full(ot_store *s)
{
    ot_viewset *vs = NULL;
    if (ot_store_views(s, &vs) != 0)
        return false;
    size_t used = 0, n = ot_viewset_count(vs);
    for (size_t i = 0; i < n; i++)
        used += ot_viewset_at(vs, i) != NULL;
    ot_viewset_free(&vs);
    return used >= OT_VIEWSET_MAX;
}

/* The store's result rc of the op into rep: ok, or error (the store's
 * sentence in err when it gave one) and usage. */
static void
s_result(Optally__AdminReply *rep, int rc, const char *what, char *err, size_t errlen)
{
    if (rc == 0) {
        rep->ok = true;
        return;
    }
    rep->usage = rc == OT_EUSAGE || rc == OT_ENOTFOUND;
    if (!rep->usage) {
        char why[S_ERR_MAX];
        /* A message cut at errlen is still the message: the results are
         * looked at only so the compiler sees the cut is meant. */
        int n = snprintf(why, sizeof why, "%s", err);
        n = snprintf(err, errlen, "%s failed: %s%s%s (nothing was changed)", what,
                     ot_strerror(rc), why[0] ? ": " : "", why);
        if (n < 0)
            err[0] = '\0';
    } else if (!err[0]) {
        snprintf(err, errlen, "%s: %s", what, ot_strerror(rc));
    }
    rep->error = err;
}

/* Run req into rep; err is the caller's buffer rep->error may point to.
 * Returns the store's code (0 when the request itself was refused). */
static int
s_run(ot_store *s, const Optally__AdminRequest *req, Optally__AdminReply *rep, char *err,
      size_t errlen, bool *changed)
{
    int rc = 0;
    uint64_t filled = 0;
    switch (req->op) {
    case OPTALLY__ADMIN_REQUEST__OP__VIEW_ADD: {
        if (!req->view || !req->view->name || !req->view->name[0]) {
            rep->usage = true;
            rep->error = "VIEW_ADD needs a view definition with a name";
            return 0;
        }
        Optally__ViewDef def = *req->view;   /* slot, created_at, filled_to_seq: the store's */
        def.slot = 0;
        def.created_at = 0;
        def.filled_to_seq = 0;
        bool full = s_views_full(s);
        rc = ot_store_view_add(s, &def, NULL, NULL, &filled, err, errlen);
        if (rc == ENOSPC && full) {
            snprintf(err, errlen, "the store holds %d views already (the most it can): drop one "
                     "first (`optally view drop NAME`)", OT_VIEWSET_MAX);
            rep->usage = true;
            rep->error = err;
            return 0;
        }
        rep->filled_events = filled;
        s_result(rep, rc, "view add", err, errlen);
        break;
    }
    case OPTALLY__ADMIN_REQUEST__OP__VIEW_DROP: {
        const char *name = req->name && req->name[0] ? req->name
                         : req->view && req->view->name ? req->view->name : "";
        if (!name[0]) {
            rep->usage = true;
            rep->error = "VIEW_DROP needs the name of a view";
            return 0;
        }
        rc = ot_store_view_drop(s, name, err, errlen);
        if (rc == OT_ENOTFOUND && !err[0])
            snprintf(err, errlen, "no view named '%.64s' (`optally view list` shows them)", name);
        s_result(rep, rc, "view drop", err, errlen);
        break;
    }
    case OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST:
        rep->ok = true;
        break;
    default:
        rep->usage = true;
        rep->error = "unknown admin request op: VIEW_ADD, VIEW_DROP or VIEW_LIST";
        return 0;
    }
    if (rc == 0 && req->op != OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST)
        *changed = true;
    return rc == OT_EUSAGE || rc == OT_ENOTFOUND ? 0 : rc;
}

int
ot_admin_handle(ot_store *s, const uint8_t *req, size_t len, uint8_t **reply, size_t *reply_len,
                bool *views_changed)
{
    bool changed = false;
    *reply = NULL;
    *reply_len = 0;
    if (views_changed)
        *views_changed = false;
    Optally__AdminRequest *r = optally__admin_request__unpack(NULL, len, req);
    if (!r)
        return ot_admin_refusal(0, true, "malformed admin request: send one optally.AdminRequest "
                                "frame", reply, reply_len);
    Optally__AdminReply rep = OPTALLY__ADMIN_REPLY__INIT;
    char err[S_ERR_MAX] = "";
    rep.request_id = r->request_id;
    int64_t t0 = ot_clock_mono_ms();
    int rc = s_run(s, r, &rep, err, sizeof err, &changed);
    rep.seconds = (double)(ot_clock_mono_ms() - t0) / 1000.0;
    ot_viewset *vs = NULL;
    Optally__ViewDef **defs = NULL;
    if (rep.ok && rc == 0) {
        ot_store_status st;
        if (ot_store_status_get(s, &st) == 0)
            rep.log_seq = st.log_seq;
        int lrc = s_list(s, &vs, &rep, &defs);
        if (lrc != 0 && r->op == OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST) {
            rep.ok = false;
            snprintf(err, sizeof err, "reading the views failed: %s", ot_strerror(lrc));
            rep.error = err;
            rep.n_views = 0;
        }
        if (r->op == OPTALLY__ADMIN_REQUEST__OP__VIEW_ADD && r->view)
            s_keep_named(&rep, r->view->name);
        else if (r->op != OPTALLY__ADMIN_REQUEST__OP__VIEW_LIST)
            rep.n_views = 0;
    }
    int prc = s_pack(&rep, reply, reply_len);
    free(defs);
    ot_viewset_free(&vs);
    optally__admin_request__free_unpacked(r, NULL);
    if (views_changed)
        *views_changed = changed;
    if (prc != 0)
        return prc;
    return rc == OT_EFATAL ? OT_EFATAL : 0;
}
