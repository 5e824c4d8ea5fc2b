/*
 * ot_json: JSON <-> OperationEvent, Figure and LogRecord (contract in
 * ot_json.h), the row of `optally figures`, plus the growing buffer and
 * JSON string escaping every JSON writer of the CLI uses.
 *
 * Invariants:
 *  1. Both directions walk the message descriptor (OperationEvent, Figure),
 *     so field names are exactly the proto's and a field added to the
 *     schema is read and written without touching this file (a field type
 *     the reader does not know is an error, never a silent skip). The reader
 *     walks a LogRecord's descriptor the same way (its event or figure is a
 *     nested message, its producer bytes in base64): one parser, one set of
 *     rules, for every line form.
 *  2. A message made here is laid out as protobuf-c's unpacker lays one out:
 *     the message, a nested message, each non-empty string and bytes come
 *     from malloc, absent strings point at protobuf_c_empty_string (the
 *     descriptor's default value); a repeated string is a malloc'd array of
 *     malloc'd strings ("" too) with its count. So
 *     protobuf_c_message_free_unpacked(.., NULL) frees it, and so do
 *     ot_json_event_free, ot_json_figure_free and ot_json_logrec_free; a
 *     message also packs like a decoded one.
 *  3. Strictness: unknown and repeated fields, wrong JSON types, fractions,
 *     negatives and out-of-range numbers are errors naming the field; a
 *     "\u0000" escape or a raw NUL byte is refused, because a C string would
 *     silently cut the value there. JSON null means "absent" (proto3 JSON).
 *  4. The writer emits valid UTF-8 JSON whatever the input bytes: malformed
 *     UTF-8 becomes U+FFFD. int64 values are JSON numbers while every JSON
 *     reader holds them exactly (|v| < 2^53), decimal strings beyond that;
 *     the reader refuses numbers it cannot hold exactly for the same reason.
 *
 * Threads: everything here is reentrant except inside cJSON, which records
 * its last parse error in a global. We never read that global (positions
 * come from return_parse_end), so concurrent failing parses only race on a
 * value nobody uses.
 */
#include "ot_json.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_figure.h"

#define S_EXACT_MAX  9007199254740992.0   /* 2^53: doubles hold every integer below it */
#define S_SNIP_MAX   40                   /* bytes of input quoted in an error */

/* ---- the growing buffer ---------------------------------------------- */

/* Make room for extra more bytes plus the NUL. Changes nothing on failure. */
static int
s_reserve(ot_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return ENOMEM;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if ((p = realloc(b->data, ncap)) == NULL)
        return ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int
ot_buf_append(ot_buf *b, const char *s, size_t n)
{
    assert(b != NULL && (s != NULL || n == 0));
    if (s_reserve(b, n) != 0)
        return ENOMEM;
    if (n > 0)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
ot_buf_printf(ot_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    assert(b != NULL && fmt != NULL);
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EINVAL;   /* an encoding error in a wide-character argument */
    if (s_reserve(b, (size_t)n) != 0)
        return ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* ot_buf_json_string, and with text ot_buf_json_text. */
static int
s_json_string(ot_buf *b, const char *s, size_t n, bool text)
{
    static const char hex[] = "0123456789abcdef";
    size_t len0 = b->len, i = 0;
    int rc = ot_buf_append(b, "\"", 1);

    assert(s != NULL || n == 0);
    while (rc == 0 && i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c >= 0x80 ? ot_utf8_seq_len(s + i, n - i) : 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        uint32_t cp;

        if (k == 0) {
            rc = ot_buf_append(b, "\\ufffd", 6);   /* invariant 4 */
            k = 1;
        } else if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            rc = ot_buf_append(b, esc, 2);
        } else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c == '\b' ? 'b' : 'f';
            rc = ot_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            rc = ot_buf_append(b, esc, 6);
        } else if (text && ot_text_is_control(cp = ot_text_code_point(s + i, k))) {
            rc = ot_buf_printf(b, "\\u%04x", (unsigned)cp);   /* all below U+10000 */
        } else {
            /* Copy the whole run of bytes that need no escape at once. */
            size_t j = i + k;
            while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f &&
                   s[j] != '"' && s[j] != '\\')
                j++;
            rc = ot_buf_append(b, s + i, j - i);
            k = j - i;
        }
        i += k;
    }
    if (rc == 0)
        rc = ot_buf_append(b, "\"", 1);
    if (rc != 0 && b->data != NULL) {
        b->len = len0;   /* a failed append leaves the buffer as it was */
        b->data[len0] = '\0';
    }
    return rc;
}

int
ot_buf_json_string(ot_buf *b, const char *s, size_t n)
{
    return s_json_string(b, s, n, false);
}

int
ot_buf_json_text(ot_buf *b, const char *s, size_t n)
{
    return s_json_string(b, s, n, true);
}

void
ot_buf_free(ot_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- JSON -> event ----------------------------------------------------- */

static int
s_err(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
s_err(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errcap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return OT_EJSON;
}


static const char *
s_kind(const cJSON *item)
{
    if (cJSON_IsNull(item)) return "null";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsObject(item)) return "an object";
    return "an invalid value";
}

/* Refuse raw NUL bytes and "\u0000" escapes (invariant 3). Any backslash
 * in valid JSON sits inside a string, so no string tracking is needed; the
 * escaped character is skipped so "\\u0000" (a backslash, then text) passes. */
static int
s_check_nul(const char *text, size_t len, char *err, size_t errcap)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0')
            return s_err(err, errcap, "NUL byte at offset %zu: not allowed in JSON text", i);
        if (text[i] != '\\' || i + 1 >= len)
            continue;
        if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0)
            return s_err(err, errcap, "\\u0000 at offset %zu: strings may not hold NUL", i);
        i++;
    }
    return 0;
}

/* Strict decimal: optional '-', 1..19 digits, nothing else. */
static int
s_parse_decimal(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    uint64_t mag = 0;
    size_t nd = 0;

    for (s += neg; *s; s++, nd++) {
        if (*s < '0' || *s > '9' || nd == 19)
            return EINVAL;
        mag = mag * 10 + (uint64_t)(*s - '0');
    }
    if (nd == 0 || mag > (uint64_t)INT64_MAX + neg)
        return EINVAL;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* Integer from a JSON number or decimal string, in [min, max]. The field
 * is named prefix + field in messages (prefix: the path of its message,
 * "" or "event."; joined only when a message is written). */
static int
s_get_int(const cJSON *item, const char *prefix, const char *field, int64_t min, int64_t max,
          int64_t *out, char *err, size_t errcap)
{
    const char *want = min < 0 ? "an integer" : "a non-negative integer";
    char q[S_SNIP_MAX + 4];
    int64_t v = 0;

    if (cJSON_IsString(item)) {
        if (s_parse_decimal(item->valuestring, &v) != 0)
            return s_err(err, errcap, "field '%s%s': expected %s, got the string \"%s\"",
                         prefix, field, want, ot_utf8_snip(q, sizeof q, item->valuestring));
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!isfinite(d))
            return s_err(err, errcap, "field '%s%s': expected %s, got %g", prefix, field, want, d);
        if (d <= -S_EXACT_MAX || d >= S_EXACT_MAX) {
            /* 2^53 itself is out: 2^53 + 1 in the text rounds to it. */
            if ((double)max < S_EXACT_MAX && (double)min > -S_EXACT_MAX)
                return s_err(err, errcap, "field '%s%s': %.17g is out of range (%lld..%lld)",
                             prefix, field, d, (long long)min, (long long)max);
            return s_err(err, errcap, "field '%s%s': %.17g is beyond 2^53 and may have lost "
                         "digits: write it as a decimal string", prefix, field, d);
        }
        v = (int64_t)d;   /* in range, so exact for every integral d */
        if ((double)v != d)
            return s_err(err, errcap, "field '%s%s': expected %s, got %.17g", prefix, field,
                         want, d);
    } else {
        return s_err(err, errcap, "field '%s%s': expected %s (number or decimal string), got %s",
                     prefix, field, want, s_kind(item));
    }
    if (v < min || v > max) {
        if (v < 0 && min == 0)
            return s_err(err, errcap, "field '%s%s': expected %s, got %lld", prefix, field, want,
                         (long long)v);
        return s_err(err, errcap, "field '%s%s': %lld is out of range (%lld..%lld)", prefix,
                     field, (long long)v, (long long)min, (long long)max);
    }
    *out = v;
    return 0;
}

static int
s_get_enum(const cJSON *item, const char *prefix, const ProtobufCFieldDescriptor *f, int *out,
           char *err, size_t errcap)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    char q[S_SNIP_MAX + 4];
    int64_t v = 0;
    int rc;

    if (cJSON_IsString(item) && s_parse_decimal(item->valuestring, &v) != 0) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, item->valuestring);
        if (ev == NULL)
            return s_err(err, errcap, "field '%s%s': unknown %s name \"%s\"", prefix, f->name,
                         ed->short_name, ot_utf8_snip(q, sizeof q, item->valuestring));
        *out = ev->value;
        return 0;
    }
    /* A number not in the enum is kept, as protobuf-c keeps it on decode;
     * validation then reports UNKNOWN_ENUM with the full story. */
    if ((rc = s_get_int(item, prefix, f->name, INT32_MIN, INT32_MAX, &v, err, errcap)) != 0)
        return rc;
    *out = (int)v;
    return 0;
}

/* ---- base64 (the proto3 JSON form of bytes) ---------------------------- */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of base64 digit c, or -1. */
static int
s_b64_value(char c)
{
    const char *p = c != '\0' ? strchr(s_b64, c) : NULL;
    return p != NULL ? (int)(p - s_b64) : -1;
}

/* Decode s (standard alphabet, padded to a multiple of 4, unused bits
 * zero: exactly what s_b64_put writes). OUT: *data (malloc'd, NULL when
 * empty), *len. Returns 0, EINVAL or ENOMEM. */
static int
s_b64_decode(const char *s, uint8_t **data, size_t *len)
{
    size_t n = strlen(s), pad = 0, o = 0;
    uint8_t *d;

    *data = NULL;
    *len = 0;
    if (n % 4 != 0)
        return EINVAL;
    if (n == 0)
        return 0;
    pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    if ((d = malloc(n / 4 * 3)) == NULL)
        return ENOMEM;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            bool padded = i + 4 == n && j >= 4 - (int)pad;
            v[j] = padded ? 0 : s_b64_value(s[i + (size_t)j]);
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0 ||
            (i + 4 == n && (w & (pad == 2 ? 0xffff : pad == 1 ? 0xff : 0)) != 0)) {
            free(d);
            return EINVAL;   /* a stray character, or bits the padding says are unused */
        }
        d[o++] = (uint8_t)(w >> 16);
        if (i + 4 < n || pad < 2)
            d[o++] = (uint8_t)(w >> 8);
        if (i + 4 < n || pad < 1)
            d[o++] = (uint8_t)w;
    }
    *data = d;
    *len = o;
    return 0;
}

/* Append the n bytes at p as standard base64 with padding. */
static int
s_b64_put(ot_buf *b, const uint8_t *p, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char q[4] = { s_b64[v >> 18], s_b64[(v >> 12) & 63],
                      i + 1 < n ? s_b64[(v >> 6) & 63] : '=', i + 2 < n ? s_b64[v & 63] : '=' };
        rc = ot_buf_append(b, q, 4);
    }
    return rc;
}

/* ---- JSON -> message (an event, or a LogRecord holding one) ------------ */

static int
s_fill(ProtobufCMessage *msg, const cJSON *obj, const char *prefix, char *err, size_t errcap);

/* Field f of msg, a message: a new one filled from item (an object), laid
 * out as invariant 2 says. */
static int
s_set_message(ProtobufCMessage *msg, const char *prefix, const ProtobufCFieldDescriptor *f,
              const cJSON *item, char *err, size_t errcap)
{
    const ProtobufCMessageDescriptor *md = f->descriptor;
    ProtobufCMessage *sub;
    char path[128];

    if (!cJSON_IsObject(item))
        return s_err(err, errcap, "field '%s%s': expected an object, got %s", prefix, f->name,
                     s_kind(item));
    if ((sub = malloc(md->sizeof_message)) == NULL)
        return ENOMEM;
    protobuf_c_message_init(md, sub);
    *(ProtobufCMessage **)((char *)msg + f->offset) = sub;   /* freed with msg */
    snprintf(path, sizeof path, "%s%s.", prefix, f->name);
    return s_fill(sub, item, path, err, errcap);
}

/* Field f of msg, bytes: base64 text. */
static int
s_set_bytes(ProtobufCMessage *msg, const char *prefix, const ProtobufCFieldDescriptor *f,
            const cJSON *item, char *err, size_t errcap)
{
    ProtobufCBinaryData *bd = (ProtobufCBinaryData *)((char *)msg + f->offset);
    char q[S_SNIP_MAX + 4];
    int rc;

    if (!cJSON_IsString(item))
        return s_err(err, errcap, "field '%s%s': expected a base64 string, got %s", prefix,
                     f->name, s_kind(item));
    if ((rc = s_b64_decode(item->valuestring, &bd->data, &bd->len)) == EINVAL)
        return s_err(err, errcap, "field '%s%s': expected standard base64 (A-Z a-z 0-9 + /, "
                     "padded with '=' to a multiple of 4 characters), got \"%s\"", prefix,
                     f->name, ot_utf8_snip(q, sizeof q, item->valuestring));
    return rc;
}

/* Field f of msg, a repeated string: a JSON array of strings. Every
 * element is malloc'd, "" too (protobuf-c frees each element of a
 * repeated string, never comparing it with the shared empty string), and
 * the array is stored as soon as it exists, so msg owns what is filled
 * when a later element fails (invariant 2). */
static int
s_set_repeated(ProtobufCMessage *msg, const char *prefix, const ProtobufCFieldDescriptor *f,
               const cJSON *item, char *err, size_t errcap)
{
    size_t *n_slot = (size_t *)((char *)msg + f->quantifier_offset);
    char ***arr_slot = (char ***)((char *)msg + f->offset);
    int n = cJSON_GetArraySize(item), i = 0;

    if (f->type != PROTOBUF_C_TYPE_STRING)
        return s_err(err, errcap, "field '%s%s': its type is not supported by the JSON reader",
                     prefix, f->name);
    if (!cJSON_IsArray(item))
        return s_err(err, errcap, "field '%s%s': expected an array of strings, got %s", prefix,
                     f->name, s_kind(item));
    if (n == 0)
        return 0;
    if ((*arr_slot = calloc((size_t)n, sizeof **arr_slot)) == NULL)
        return ENOMEM;
    for (const cJSON *e = item->child; e != NULL; e = e->next, i++) {
        if (!cJSON_IsString(e))
            return s_err(err, errcap, "field '%s%s[%d]': expected a string, got %s", prefix,
                         f->name, i, s_kind(e));
        if (((*arr_slot)[i] = strdup(e->valuestring)) == NULL)
            return ENOMEM;
        *n_slot = (size_t)i + 1;
    }
    return 0;
}

/* Set field f of msg from item (not null). */
static int
s_set_field(ProtobufCMessage *msg, const char *prefix, const ProtobufCFieldDescriptor *f,
            const cJSON *item, char *err, size_t errcap)
{
    char *slot = (char *)msg + f->offset;
    int64_t v = 0;
    int rc;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_set_repeated(msg, prefix, f, item, err, errcap);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(item))
            return s_err(err, errcap, "field '%s%s': expected a string, got %s", prefix,
                         f->name, s_kind(item));
        if (item->valuestring[0] != '\0') {   /* "" stays the shared empty string */
            char *s = strdup(item->valuestring);
            if (s == NULL)
                return ENOMEM;
            *(char **)slot = s;
        }
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(item))
            return s_err(err, errcap, "field '%s%s': expected true or false, got %s", prefix,
                         f->name, s_kind(item));
        *(protobuf_c_boolean *)slot = cJSON_IsTrue(item);
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
        if ((rc = s_get_int(item, prefix, f->name, 0, UINT32_MAX, &v, err, errcap)) == 0)
            *(uint32_t *)slot = (uint32_t)v;
        return rc;
    case PROTOBUF_C_TYPE_INT32:
        if ((rc = s_get_int(item, prefix, f->name, INT32_MIN, INT32_MAX, &v, err, errcap)) == 0)
            *(int32_t *)slot = (int32_t)v;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
        if ((rc = s_get_int(item, prefix, f->name, INT64_MIN, INT64_MAX, &v, err, errcap)) == 0)
            *(int64_t *)slot = v;
        return rc;
    case PROTOBUF_C_TYPE_UINT64:
        if ((rc = s_get_int(item, prefix, f->name, 0, INT64_MAX, &v, err, errcap)) == 0)
            *(uint64_t *)slot = (uint64_t)v;
        return rc;
    case PROTOBUF_C_TYPE_ENUM:
        return s_get_enum(item, prefix, f, (int *)slot, err, errcap);
    case PROTOBUF_C_TYPE_BYTES:
        return s_set_bytes(msg, prefix, f, item, err, errcap);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_set_message(msg, prefix, f, item, err, errcap);
    default:
        return s_err(err, errcap, "field '%s%s': its type is not supported by the JSON reader",
                     prefix, f->name);
    }
}

/* Fill msg from the members of obj. prefix: the path of msg in messages,
 * "" at the top, "event." inside a LogRecord. */
static int
s_fill(ProtobufCMessage *msg, const cJSON *obj, const char *prefix, char *err, size_t errcap)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    bool seen[64] = {false};
    char q[S_SNIP_MAX + 4];
    int rc;

    assert(d->n_fields <= sizeof seen / sizeof seen[0]);
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, m->string);
        if (f == NULL && d == &optally__log_record__descriptor)
            return s_err(err, errcap, "unknown field '%s' in a log record: it holds seq, "
                         "received_at, producer and event or figure",
                         ot_utf8_snip(q, sizeof q, m->string));
        if (f == NULL)
            return s_err(err, errcap, "unknown field '%s%s': check its spelling against "
                         "proto/optally.proto", prefix, ot_utf8_snip(q, sizeof q, m->string));
        size_t idx = (size_t)(f - d->fields);
        if (seen[idx])
            return s_err(err, errcap, "field '%s%s' appears more than once", prefix, f->name);
        seen[idx] = true;
        if (!cJSON_IsNull(m) && (rc = s_set_field(msg, prefix, f, m, err, errcap)) != 0)
            return rc;
    }
    return 0;
}

/* Parse text (len bytes) as one JSON object and nothing after it. OUT:
 * *root (cJSON_Delete it). */
static int
s_parse_object(const char *text, size_t len, cJSON **root, char *err, size_t errcap)
{
    const char *end = NULL;
    int rc;

    *root = NULL;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (len == 0)
        return s_err(err, errcap, "empty input: expected a JSON object");
    if ((rc = s_check_nul(text, len, err, errcap)) != 0)
        return rc;
    /* Not "require NUL-terminated": text need not be, and cJSON's check
     * reads one byte past len. Trailing bytes are checked here instead. */
    *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (*root == NULL)
        return s_err(err, errcap, "invalid JSON at offset %td (expected one JSON object a line)",
                     end ? end - text : (ptrdiff_t)0);
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != text + len)
        rc = s_err(err, errcap, "invalid JSON at offset %td: text after the object (expected "
                   "one JSON object a line)", end - text);
    else if (!cJSON_IsObject(*root))
        rc = s_err(err, errcap, "expected a JSON object, got %s", s_kind(*root));
    if (rc != 0) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    return rc;
}

/* A new message of descriptor d filled from obj. OUT: *out (NULL on
 * failure). */
static int
s_new_filled(const ProtobufCMessageDescriptor *d, const cJSON *obj, ProtobufCMessage **out,
             char *err, size_t errcap)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    int rc;

    *out = NULL;
    if (m == NULL)
        return ENOMEM;
    protobuf_c_message_init(d, m);
    if ((rc = s_fill(m, obj, "", err, errcap)) != 0) {
        protobuf_c_message_free_unpacked(m, NULL);   /* invariant 2 */
        return rc;
    }
    *out = m;
    return 0;
}

int
ot_json_to_event(const char *text, size_t len, Optally__OperationEvent **out,
                 char *err, size_t errcap)
{
    ProtobufCMessage *m = NULL;
    cJSON *root;
    int rc;

    assert(out != NULL && (text != NULL || len == 0));
    *out = NULL;
    if ((rc = s_parse_object(text, len, &root, err, errcap)) == 0)
        rc = s_new_filled(&optally__operation_event__descriptor, root, &m, err, errcap);
    cJSON_Delete(root);
    if (rc == ENOMEM)
        s_err(err, errcap, "out of memory");
    *out = (Optally__OperationEvent *)m;
    return rc;
}

/* The record of root, an object with a member "event" or "figure": exactly
 * one of them an object. */
static int
s_logrec_of_record(const cJSON *root, Optally__LogRecord **out, char *err, size_t errcap)
{
    ProtobufCMessage *m = NULL;
    Optally__LogRecord *r;
    int rc = s_new_filled(&optally__log_record__descriptor, root, &m, err, errcap);

    r = (Optally__LogRecord *)m;
    if (rc == 0 && r->event != NULL && r->figure != NULL)
        rc = s_err(err, errcap, "a log record holds one of 'event' and 'figure', not both");
    else if (rc == 0 && r->event == NULL && r->figure == NULL)   /* "event":null */
        rc = s_err(err, errcap, "field '%s': expected an object, got null",
                   cJSON_GetObjectItemCaseSensitive(root, "event") ? "event" : "figure");
    if (rc != 0)
        ot_json_logrec_free(&r);
    *out = r;
    return rc;
}

/* A record holding only the bare message of descriptor d made from root. */
static int
s_logrec_of_bare(const cJSON *root, const ProtobufCMessageDescriptor *d,
                 Optally__LogRecord **out, char *err, size_t errcap)
{
    ProtobufCMessage *m = NULL;
    Optally__LogRecord *r = malloc(sizeof *r);
    int rc;

    *out = NULL;
    if (r == NULL)
        return ENOMEM;
    optally__log_record__init(r);
    if ((rc = s_new_filled(d, root, &m, err, errcap)) != 0) {
        ot_json_logrec_free(&r);
        return rc;
    }
    if (d == &optally__figure__descriptor)
        r->figure = (Optally__Figure *)m;
    else
        r->event = (Optally__OperationEvent *)m;
    *out = r;
    return 0;
}

int
ot_json_to_logrec(const char *text, size_t len, Optally__LogRecord **out,
                  char *err, size_t errcap)
{
    cJSON *root;
    int rc;

    assert(out != NULL && (text != NULL || len == 0));
    *out = NULL;
    if ((rc = s_parse_object(text, len, &root, err, errcap)) != 0)
        return rc;
    /* What the line is, from its member names (cJSON unescapes them:
     * "\u0065vent" is found here), in one pass over them: this runs once
     * for every line `optally produce` reads. */
    bool record = false, figure = false;
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        const char *k = c->string;
        if (k == NULL || (k[0] != 'e' && k[0] != 'f'))
            continue;
        if (strcmp(k, "event") == 0 || strcmp(k, "figure") == 0)
            record = true;
        else if (strcmp(k, "figure_id") == 0)
            figure = true;
    }
    if (record)
        rc = s_logrec_of_record(root, out, err, errcap);
    else if (figure)
        rc = s_logrec_of_bare(root, &optally__figure__descriptor, out, err, errcap);
    else
        rc = s_logrec_of_bare(root, &optally__operation_event__descriptor, out, err, errcap);
    cJSON_Delete(root);
    if (rc == ENOMEM)
        s_err(err, errcap, "out of memory");
    return rc;
}

int
ot_json_to_figure(const char *text, size_t len, Optally__Figure **out, char *err, size_t errcap)
{
    ProtobufCMessage *m = NULL;
    cJSON *root;
    int rc;

    assert(out != NULL && (text != NULL || len == 0));
    *out = NULL;
    if ((rc = s_parse_object(text, len, &root, err, errcap)) == 0)
        rc = s_new_filled(&optally__figure__descriptor, root, &m, err, errcap);
    cJSON_Delete(root);
    if (rc == ENOMEM)
        s_err(err, errcap, "out of memory");
    *out = (Optally__Figure *)m;
    return rc;
}

void
ot_json_figure_free(Optally__Figure **f)
{
    if (f == NULL || *f == NULL)
        return;
    protobuf_c_message_free_unpacked(&(*f)->base, NULL);   /* invariant 2 */
    *f = NULL;
}

/* True when text[0..len) holds needle (n bytes). */
static bool
s_contains(const char *text, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (text[i] == needle[0] && memcmp(text + i, needle, n) == 0)
            return true;
    return false;
}

bool
ot_json_is_figure(const char *text, size_t len)
{
    cJSON *root;
    bool yes;

    assert(text != NULL || len == 0);
    /* The cheap answer for most lines: a member named figure_id is spelt
     * so, or with an escape ("\u0066igure_id") that cJSON unescapes. */
    if (!s_contains(text, len, "figure_id", 9) && !s_contains(text, len, "\\u", 2))
        return false;
    if (s_check_nul(text, len, NULL, 0) != 0)
        return false;
    root = cJSON_ParseWithLength(text, len);
    yes = cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "figure_id") != NULL;
    cJSON_Delete(root);
    return yes;
}

void
ot_json_logrec_free(Optally__LogRecord **r)
{
    if (r == NULL || *r == NULL)
        return;
    protobuf_c_message_free_unpacked(&(*r)->base, NULL);   /* invariant 2 */
    *r = NULL;
}

void
ot_json_event_free(Optally__OperationEvent **ev)
{
    if (ev == NULL || *ev == NULL)
        return;
    protobuf_c_message_free_unpacked(&(*ev)->base, NULL);   /* invariant 2 */
    *ev = NULL;
}

/* ---- message -> JSON (an event, a figure) ----------------------------- */

/* Append the n strings of arr as a JSON array. */
static int
s_put_strings(ot_buf *b, char *const *arr, size_t n, bool text)
{
    int rc = ot_buf_append(b, "[", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *e = arr[i] ? arr[i] : "";
        if (i > 0)
            rc = ot_buf_append(b, ",", 1);
        if (rc == 0)
            rc = text ? ot_buf_json_text(b, e, strlen(e)) : ot_buf_json_string(b, e, strlen(e));
    }
    return rc || ot_buf_append(b, "]", 1);
}

/* Append the integer v as a JSON number, or a decimal string beyond what
 * every JSON reader holds exactly (invariant 4). */
static int
s_put_u64(ot_buf *b, uint64_t v)
{
    return ot_buf_printf(b, v < (uint64_t)S_EXACT_MAX ? "%llu" : "\"%llu\"",
                         (unsigned long long)v);
}

/* Append field f of msg as ,"name":value, or nothing when it is absent
 * (a zero, an empty string or list) unless always. */
static int
s_put_field(ot_buf *b, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
            bool always)
{
    const char *slot = (const char *)msg + f->offset;
    size_t len0 = b->len;
    int rc;

#define S_KEY() (ot_buf_printf(b, "%s\"%s\":", b->len > 1 ? "," : "", f->name))
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
        assert(f->type == PROTOBUF_C_TYPE_STRING);   /* the schema's only repeated kind */
        if (n == 0 || f->type != PROTOBUF_C_TYPE_STRING)
            return 0;
        rc = S_KEY() || s_put_strings(b, *(char *const *const *)slot, n, false);
        goto done;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot ? *(char *const *)slot : "";
        if (s[0] == '\0' && !always)
            return 0;
        rc = S_KEY() || ot_buf_json_string(b, s, strlen(s));
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!*(const protobuf_c_boolean *)slot)
            return 0;
        rc = S_KEY() || ot_buf_append(b, "true", 4);
        break;
    case PROTOBUF_C_TYPE_UINT32:
        if (*(const uint32_t *)slot == 0)
            return 0;
        rc = S_KEY() || ot_buf_printf(b, "%u", (unsigned)*(const uint32_t *)slot);
        break;
    case PROTOBUF_C_TYPE_INT32:
        if (*(const int32_t *)slot == 0)
            return 0;
        rc = S_KEY() || ot_buf_printf(b, "%d", (int)*(const int32_t *)slot);
        break;
    case PROTOBUF_C_TYPE_UINT64:
        if (*(const uint64_t *)slot == 0)
            return 0;
        rc = S_KEY() || s_put_u64(b, *(const uint64_t *)slot);
        break;
    case PROTOBUF_C_TYPE_INT64: {
        int64_t v = *(const int64_t *)slot;
        if (v == 0)
            return 0;
        bool exact = v > -(int64_t)S_EXACT_MAX && v < (int64_t)S_EXACT_MAX;
        rc = S_KEY() || ot_buf_printf(b, exact ? "%lld" : "\"%lld\"", (long long)v);
        break;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)slot;
        if (v == 0)
            return 0;
        const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        rc = S_KEY() || (e ? ot_buf_printf(b, "\"%s\"", e->name) : ot_buf_printf(b, "%d", v));
        break;
    }
    default:
        assert(!"ot_json: unhandled field type");
        return 0;
    }
#undef S_KEY
done:
    if (rc != 0) {
        b->len = len0;   /* no half-written member */
        b->data[len0] = '\0';
        return ENOMEM;
    }
    return 0;
}

/* msg as one compact JSON object, absent fields left out but the one at
 * offset id_off (the id). OUT: *out, malloc'd. */
static int
s_from_message(const ProtobufCMessage *msg, size_t id_off, char **out)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    ot_buf b = {NULL, 0, 0};
    int rc = ot_buf_append(&b, "{", 1);

    for (unsigned i = 0; rc == 0 && i < d->n_fields; i++)
        rc = s_put_field(&b, msg, &d->fields[i], d->fields[i].offset == id_off);
    if (rc == 0)
        rc = ot_buf_append(&b, "}", 1);
    if (rc != 0) {
        ot_buf_free(&b);
        return rc;
    }
    *out = b.data;
    return 0;
}

int
ot_json_from_event(const Optally__OperationEvent *ev, char **out)
{
    assert(ev != NULL && out != NULL);
    return s_from_message(&ev->base, offsetof(Optally__OperationEvent, event_id), out);
}

int
ot_json_from_figure(const Optally__Figure *f, char **out)
{
    assert(f != NULL && out != NULL);
    return s_from_message(&f->base, offsetof(Optally__Figure, figure_id), out);
}

/* ---- the row of `optally figures` -------------------------------------- */

int
ot_json_figure_row(ot_buf *b, const Optally__Figure *f)
{
    const char *q = ot_figure_qualifier_name((int)f->qualifier);
    size_t len0 = b->len;
    int rc;

    assert(b != NULL && f != NULL);
#define S_TEXT(s) ot_buf_json_text(b, (s) ? (s) : "", (s) ? strlen(s) : 0)
#define S_LIT(s) ot_buf_append(b, s, sizeof s - 1)
    rc = S_LIT("{\"metric\":") || S_TEXT(f->metric) ||
         S_LIT(",\"scope\":") || s_put_strings(b, f->scope, f->n_scope, true) ||
         S_LIT(",\"as_of\":") || S_TEXT(f->as_of) ||
         S_LIT(",\"value\":") || s_put_u64(b, f->value) ||
         (q ? ot_buf_printf(b, ",\"qualifier\":\"%s\"", q)
            : ot_buf_printf(b, ",\"qualifier\":%d", (int)f->qualifier)) ||
         S_LIT(",\"low\":") || s_put_u64(b, f->low) ||
         S_LIT(",\"high\":") || s_put_u64(b, f->high) ||
         S_LIT(",\"unit\":") || S_TEXT(f->unit) ||
         S_LIT(",\"source\":") || S_TEXT(f->source) ||
         S_LIT(",\"figure_id\":") || S_TEXT(f->figure_id) ||
         ot_buf_append(b, "}", 1);
#undef S_TEXT
#undef S_LIT
    if (rc != 0 && b->data != NULL) {
        b->len = len0;   /* a failed append leaves the buffer as it was */
        b->data[len0] = '\0';
    }
    return rc ? ENOMEM : 0;
}

/* ---- LogRecord -> JSON ------------------------------------------------- */

int
ot_json_from_logrec(ot_buf *b, const Optally__LogRecord *r)
{
    size_t len0 = b->len;
    char *ev = NULL;
    int rc;

    assert(r != NULL && (r->event != NULL) != (r->figure != NULL));
    rc = ot_buf_printf(b, "{\"seq\":%" PRIu64 ",\"received_at\":%" PRId64, r->seq,
                       r->received_at);
    if (rc == 0 && r->producer.len > 0) {
        rc = ot_buf_append(b, ",\"producer\":\"", 13);
        if (rc == 0)
            rc = s_b64_put(b, r->producer.data, r->producer.len);
        if (rc == 0)
            rc = ot_buf_append(b, "\"", 1);
    }
    if (rc == 0)
        rc = r->figure ? ot_json_from_figure(r->figure, &ev) : ot_json_from_event(r->event, &ev);
    if (rc == 0)
        rc = ot_buf_printf(b, ",\"%s\":%s}", r->figure ? "figure" : "event", ev);
    free(ev);
    if (rc != 0 && b->data != NULL) {
        b->len = len0;
        b->data[len0] = '\0';
    }
    return rc;
}
