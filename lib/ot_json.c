/*
 * ot_json: JSON <-> OperationEvent (contract in ot_json.h), plus the growing
 * buffer and JSON string escaping every JSON writer of the CLI uses.
 *
 * Invariants:
 *  1. Both directions walk the OperationEvent descriptor, so field names are
 *     exactly the proto's and a field added to the schema is read and
 *     written without touching this file (a field type the reader does not
 *     know is an error, never a silent skip).
 *  2. An event made here is laid out as protobuf-c's unpacker lays one out:
 *     the message and each non-empty string come from malloc, absent strings
 *     point at protobuf_c_empty_string (the descriptor's default value). So
 *     protobuf_c_message_free_unpacked(.., NULL) frees it, and so does
 *     ot_json_event_free; the event also packs like a decoded one.
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

int
ot_buf_json_string(ot_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t len0 = b->len, i = 0;
    int rc = ot_buf_append(b, "\"", 1);

    assert(s != NULL || n == 0);
    while (rc == 0 && i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c >= 0x80 ? ot_utf8_seq_len(s + i, n - i) : 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

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
        } else {
            /* Copy the whole run of bytes that need no escape at once. */
            size_t j = i + k;
            while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 &&
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

/* Input text quoted in an error, into dst (cap >= 8 bytes): at most
 * cap - 4 bytes of it and "...", whole UTF-8
 * characters, control and malformed bytes as '?'. */
static const char *
s_snip(char *dst, size_t cap, const char *src)
{
    size_t i = 0, o = 0, n = strlen(src);

    size_t max = cap - 4;   /* room for "..." and the NUL */

    assert(cap >= 8);
    while (i < n) {
        size_t k = ot_utf8_seq_len(src + i, n - i);
        if (o + (k ? k : 1) > max) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (k <= 1) {
            unsigned char c = (unsigned char)src[i];
            dst[o++] = (k == 0 || c < 0x20 || c == 0x7f) ? '?' : (char)c;
            i++;
        } else {
            memcpy(dst + o, src + i, k);
            o += k;
            i += k;
        }
    }
    dst[o] = '\0';
    return dst;
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

/* Integer from a JSON number or decimal string, in [min, max]. */
static int
s_get_int(const cJSON *item, const char *field, int64_t min, int64_t max, int64_t *out,
          char *err, size_t errcap)
{
    const char *want = min < 0 ? "an integer" : "a non-negative integer";
    char q[S_SNIP_MAX + 4];
    int64_t v = 0;

    if (cJSON_IsString(item)) {
        if (s_parse_decimal(item->valuestring, &v) != 0)
            return s_err(err, errcap, "field '%s': expected %s, got the string \"%s\"",
                         field, want, s_snip(q, sizeof q, item->valuestring));
    } else if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!isfinite(d))
            return s_err(err, errcap, "field '%s': expected %s, got %g", field, want, d);
        if (d <= -S_EXACT_MAX || d >= S_EXACT_MAX) {
            /* 2^53 itself is out: 2^53 + 1 in the text rounds to it. */
            if ((double)max < S_EXACT_MAX && (double)min > -S_EXACT_MAX)
                return s_err(err, errcap, "field '%s': %.17g is out of range (%lld..%lld)",
                             field, d, (long long)min, (long long)max);
            return s_err(err, errcap, "field '%s': %.17g is beyond 2^53 and may have lost "
                         "digits: write it as a decimal string", field, d);
        }
        v = (int64_t)d;   /* in range, so exact for every integral d */
        if ((double)v != d)
            return s_err(err, errcap, "field '%s': expected %s, got %.17g", field, want, d);
    } else {
        return s_err(err, errcap, "field '%s': expected %s (number or decimal string), got %s",
                     field, want, s_kind(item));
    }
    if (v < min || v > max) {
        if (v < 0 && min == 0)
            return s_err(err, errcap, "field '%s': expected %s, got %lld", field, want,
                         (long long)v);
        return s_err(err, errcap, "field '%s': %lld is out of range (%lld..%lld)", field,
                     (long long)v, (long long)min, (long long)max);
    }
    *out = v;
    return 0;
}

static int
s_get_enum(const cJSON *item, const ProtobufCFieldDescriptor *f, int *out,
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
            return s_err(err, errcap, "field '%s': unknown %s name \"%s\"", f->name,
                         ed->short_name, s_snip(q, sizeof q, item->valuestring));
        *out = ev->value;
        return 0;
    }
    /* A number not in the enum is kept, as protobuf-c keeps it on decode;
     * validation then reports UNKNOWN_ENUM with the full story. */
    if ((rc = s_get_int(item, f->name, INT32_MIN, INT32_MAX, &v, err, errcap)) != 0)
        return rc;
    *out = (int)v;
    return 0;
}

/* Set field f of ev from item (not null). */
static int
s_set_field(Optally__OperationEvent *ev, const ProtobufCFieldDescriptor *f,
            const cJSON *item, char *err, size_t errcap)
{
    char *slot = (char *)ev + f->offset;
    int64_t v = 0;
    int rc;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!cJSON_IsString(item))
            return s_err(err, errcap, "field '%s': expected a string, got %s", f->name,
                         s_kind(item));
        if (item->valuestring[0] != '\0') {   /* "" stays the shared empty string */
            char *s = strdup(item->valuestring);
            if (s == NULL)
                return ENOMEM;
            *(char **)slot = s;
        }
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(item))
            return s_err(err, errcap, "field '%s': expected true or false, got %s", f->name,
                         s_kind(item));
        *(protobuf_c_boolean *)slot = cJSON_IsTrue(item);
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
        if ((rc = s_get_int(item, f->name, 0, UINT32_MAX, &v, err, errcap)) == 0)
            *(uint32_t *)slot = (uint32_t)v;
        return rc;
    case PROTOBUF_C_TYPE_INT32:
        if ((rc = s_get_int(item, f->name, INT32_MIN, INT32_MAX, &v, err, errcap)) == 0)
            *(int32_t *)slot = (int32_t)v;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
        if ((rc = s_get_int(item, f->name, INT64_MIN, INT64_MAX, &v, err, errcap)) == 0)
            *(int64_t *)slot = v;
        return rc;
    case PROTOBUF_C_TYPE_ENUM:
        return s_get_enum(item, f, (int *)slot, err, errcap);
    default:
        return s_err(err, errcap, "field '%s': its type is not supported by the JSON reader",
                     f->name);
    }
}

/* Fill ev from the members of obj. */
static int
s_fill(Optally__OperationEvent *ev, const cJSON *obj, char *err, size_t errcap)
{
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    bool seen[64] = {false};
    char q[S_SNIP_MAX + 4];
    int rc;

    assert(d->n_fields <= sizeof seen / sizeof seen[0]);
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, m->string);
        if (f == NULL)
            return s_err(err, errcap, "unknown field '%s': check its spelling against "
                         "proto/optally.proto", s_snip(q, sizeof q, m->string));
        size_t idx = (size_t)(f - d->fields);
        if (seen[idx])
            return s_err(err, errcap, "field '%s' appears more than once", f->name);
        seen[idx] = true;
        if (!cJSON_IsNull(m) && (rc = s_set_field(ev, f, m, err, errcap)) != 0)
            return rc;
    }
    return 0;
}

int
ot_json_to_event(const char *text, size_t len, Optally__OperationEvent **out,
                 char *err, size_t errcap)
{
    Optally__OperationEvent *ev;
    const char *end = NULL;
    cJSON *root;
    int rc;

    assert(out != NULL && (text != NULL || len == 0));
    *out = NULL;
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (len == 0)
        return s_err(err, errcap, "empty input: expected a JSON object");
    if ((rc = s_check_nul(text, len, err, errcap)) != 0)
        return rc;
    /* Not "require NUL-terminated": text need not be, and cJSON's check
     * reads one byte past len. Trailing bytes are checked here instead. */
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL)
        return s_err(err, errcap, "invalid JSON at offset %td", end ? end - text : (ptrdiff_t)0);
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != text + len) {
        rc = s_err(err, errcap, "invalid JSON at offset %td: text after the object", end - text);
    } else if (!cJSON_IsObject(root)) {
        rc = s_err(err, errcap, "expected a JSON object, got %s", s_kind(root));
    } else if ((ev = malloc(sizeof *ev)) == NULL) {
        rc = ENOMEM;
    } else {
        optally__operation_event__init(ev);
        if ((rc = s_fill(ev, root, err, errcap)) != 0)
            ot_json_event_free(&ev);
        *out = ev;
    }
    cJSON_Delete(root);
    if (rc == ENOMEM)
        s_err(err, errcap, "out of memory");
    return rc;
}

void
ot_json_event_free(Optally__OperationEvent **ev)
{
    if (ev == NULL || *ev == NULL)
        return;
    protobuf_c_message_free_unpacked(&(*ev)->base, NULL);   /* invariant 2 */
    *ev = NULL;
}

/* ---- event -> JSON ----------------------------------------------------- */

/* Append field f of ev as ,"name":value, or nothing when it is absent. */
static int
s_put_field(ot_buf *b, const Optally__OperationEvent *ev, const ProtobufCFieldDescriptor *f,
            bool always)
{
    const char *slot = (const char *)ev + f->offset;
    size_t len0 = b->len;
    int rc;

#define S_KEY() (ot_buf_printf(b, "%s\"%s\":", b->len > 1 ? "," : "", f->name))
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
        assert(!"ot_json_from_event: unhandled field type");
        return 0;
    }
#undef S_KEY
    if (rc != 0) {
        b->len = len0;   /* no half-written member */
        b->data[len0] = '\0';
        return ENOMEM;
    }
    return 0;
}

int
ot_json_from_event(const Optally__OperationEvent *ev, char **out)
{
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    ot_buf b = {NULL, 0, 0};
    int rc = ot_buf_append(&b, "{", 1);

    assert(ev != NULL && out != NULL);
    for (unsigned i = 0; rc == 0 && i < d->n_fields; i++) {
        bool always = d->fields[i].offset == offsetof(Optally__OperationEvent, event_id);
        rc = s_put_field(&b, ev, &d->fields[i], always);
    }
    if (rc == 0)
        rc = ot_buf_append(&b, "}", 1);
    if (rc != 0) {
        ot_buf_free(&b);
        return rc;
    }
    *out = b.data;
    return 0;
}
