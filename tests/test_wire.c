/*
 * test_wire: bounded decoding of network input, and the one schema codec.
 *  - batches: decode, limits, budget, garbage, NUL bytes (as before);
 *    figures (EventBatch.figures): decoded, sliced, counted with the
 *    events against the per-batch limit, bounded by the budget;
 *  - every named field number of ot_fields.h equals the id of its field in
 *    the protobuf-c descriptor, and OT_F_EVENT__MAX bounds OperationEvent;
 *  - the field walker: each wire type, truncation, field 0, groups; varints
 *    written by ot_wire_put_varint read back; a batch written with the
 *    named tags (as the producer writes it) decodes with protobuf-c;
 *  - the event view: a packed event parses to a view equal in content to
 *    the message's own view, field by field; changing any content field
 *    (not reported_at) makes them differ; a field with a wrong wire type is
 *    refused exactly when protobuf-c refuses it; unknown fields are skipped;
 *    strings compare up to a NUL as protobuf-c's C strings do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_fields.h"
#include "ot_wire.h"

/* A batch of n empty events: 2 bytes each on the wire (tag 0x0a, len 0). */
static uint8_t *
s_empty_events(size_t n, size_t *len)
{
    uint8_t *b = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = 0x0a;
        b[2 * i + 1] = 0;
    }
    *len = 2 * n;
    return b;
}

static size_t
s_pack_batch(Optally__OperationEvent **evs, size_t n, uint64_t id, uint8_t **out)
{
    Optally__EventBatch b = OPTALLY__EVENT_BATCH__INIT;
    b.events = evs;
    b.n_events = n;
    b.batch_id = id;
    size_t len = optally__event_batch__get_packed_size(&b);
    *out = malloc(len + 1);
    optally__event_batch__pack(&b, *out);
    return len;
}

static void
t_decode_ok_and_raw_slices(void **state)
{
    (void)state;
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT, c = OPTALLY__OPERATION_EVENT__INIT;
    a.event_id = "a-1";
    a.killed = 3;
    c.event_id = "c-22";
    c.country = "SY";
    Optally__OperationEvent *evs[] = { &a, &c };
    uint8_t *buf;
    size_t len = s_pack_batch(evs, 2, 42, &buf);
    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 20, 10000, &b), 0);
    const Optally__EventBatch *m = ot_wire_batch_msg(b);
    assert_int_equal(m->n_events, 2);
    assert_int_equal(m->batch_id, 42);
    assert_string_equal(m->events[1]->country, "SY");
    const uint8_t *raw;
    size_t rlen;
    ot_wire_batch_raw(b, 1, &raw, &rlen);
    assert_int_equal(rlen, optally__operation_event__get_packed_size(&c));
    Optally__OperationEvent *back = optally__operation_event__unpack(NULL, rlen, raw);
    assert_non_null(back);
    assert_string_equal(back->event_id, "c-22");
    optally__operation_event__free_unpacked(back, NULL);
    assert_true(ot_wire_batch_bytes(b) > 0);
    ot_wire_batch_free(&b);
    assert_null(b);
    ot_wire_batch_free(&b);   /* safe twice */
    free(buf);
}

static void
t_too_many_events_refused_before_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = s_empty_events(10001, &len);
    ot_wire_batch *b = (ot_wire_batch *)1;
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 30, 10000, &b), OT_ETOOMANY);
    assert_null(b);
    assert_int_equal(ot_wire_batch_decode(buf, len - 2, 1 << 30, 10000, &b), 0);
    ot_wire_batch_free(&b);
    free(buf);
}

/* 2 MiB of empty events would unpack into ~200 MiB; the budget stops it. */
static void
t_budget_bounds_decoding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = s_empty_events(1000000, &len);
    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 8 << 20, 2000000, &b), OT_EBUDGET);
    assert_null(b);
    free(buf);
}

static void
t_garbage_and_truncation(void **state)
{
    (void)state;
    ot_wire_batch *b;
    srand(5);
    int refused = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t junk[64];
        size_t n = 1 + (size_t)(rand() % (int)sizeof junk);
        for (size_t j = 0; j < n; j++)
            junk[j] = (uint8_t)rand();
        int rc = ot_wire_batch_decode(junk, n, 1 << 20, 10000, &b);
        assert_true(rc == 0 || rc == OT_EDECODE || rc == OT_ETOOMANY);
        refused += rc != 0;
        ot_wire_batch_free(&b);
    }
    assert_true(refused > 1000);
    /* A valid batch cut short anywhere inside an event is refused. */
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT;
    a.event_id = "truncate-me";
    a.source = "CENTCOM";
    Optally__OperationEvent *evs[] = { &a };
    uint8_t *buf;
    size_t len = s_pack_batch(evs, 1, 0, &buf);
    for (size_t cut = 1; cut < len; cut++)
        assert_int_equal(ot_wire_batch_decode(buf, cut, 1 << 20, 10000, &b), OT_EDECODE);
    free(buf);
}

static void
t_nul_in_string_seen_on_wire(void **state)
{
    (void)state;
    /* event_id "a\0b" (field 1, len 3) */
    const uint8_t with_nul[] = { 0x0a, 3, 'a', 0, 'b', 0x60, 1 };
    const uint8_t clean[] = { 0x0a, 3, 'a', 'x', 'b', 0x60, 1 };
    assert_true(ot_wire_has_nul_string(with_nul, sizeof with_nul));
    assert_false(ot_wire_has_nul_string(clean, sizeof clean));
    const uint8_t bad[] = { 0x0a, 9, 'a' };
    assert_true(ot_wire_has_nul_string(bad, sizeof bad));
    const uint8_t *v;
    size_t vl;
    assert_int_equal(ot_wire_find_bytes(clean, sizeof clean, 1, &v, &vl), 0);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "axb", 3);
    assert_int_equal(ot_wire_find_bytes(clean, sizeof clean, 4, &v, &vl), OT_ENOTFOUND);
    assert_int_equal(ot_wire_find_bytes(bad, sizeof bad, 1, &v, &vl), OT_EDECODE);
}

/* Only the string fields of OperationEvent are looked at for NUL bytes
 * (issue 10, item 5): a newer producer's unknown field 51 holding the
 * submessage 08 00, or unknown bytes 00 01 in field 52, may hold a zero
 * byte; a NUL in a real string field is still seen. */
static void
t_nul_only_in_string_fields(void **state)
{
    (void)state;
    /* event_id "ab", then field 51 (LEN) = {08 00}: tag 51<<3|2 = 0x9a 0x03 */
    const uint8_t sub51[] = { 0x0a, 2, 'a', 'b', 0x9a, 0x03, 2, 0x08, 0x00 };
    /* field 52 (LEN) = {00 01}: tag 52<<3|2 = 0xa2 0x03 */
    const uint8_t bytes52[] = { 0x0a, 2, 'a', 'b', 0xa2, 0x03, 2, 0x00, 0x01 };
    /* source (field 4) "C\0M" */
    const uint8_t source_nul[] = { 0x0a, 2, 'a', 'b', 0x22, 3, 'C', 0, 'M' };
    /* notes (field 16, tag 0x82 0x01) with a NUL, behind an unknown field */
    const uint8_t notes_nul[] = { 0xa2, 0x03, 1, 0x00, 0x82, 0x01, 2, 'x', 0 };
    assert_false(ot_wire_has_nul_string(sub51, sizeof sub51));
    assert_false(ot_wire_has_nul_string(bytes52, sizeof bytes52));
    assert_true(ot_wire_has_nul_string(source_nul, sizeof source_nul));
    assert_true(ot_wire_has_nul_string(notes_nul, sizeof notes_nul));
    /* every string field of the descriptor is checked, no other field */
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    for (unsigned num = 1; num < 64; num++) {
        uint8_t m[8];
        size_t o = ot_wire_put_varint(m, OT_WIRE_TAG(num, OT_WIRE_LEN));
        m[o++] = 1;
        m[o++] = 0;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, num);
        bool str = fd && fd->type == PROTOBUF_C_TYPE_STRING;
        if (ot_wire_has_nul_string(m, o) != str)
            fail_msg("field %u: NUL %s", num, str ? "not seen" : "seen in a non-string field");
    }
}

/* ---- figures in a batch ------------------------------------------------- */

/* A batch of ne empty events and nf empty figures, interleaved (2 bytes
 * each: tag, len 0), as a producer may write them. */
static uint8_t *
s_empty_mixed(size_t ne, size_t nf, size_t *len)
{
    uint8_t *b = malloc(2 * (ne + nf) + 1);
    size_t o = 0;
    for (size_t i = 0; i < ne || i < nf; i++) {
        if (i < nf) {
            b[o++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_FIGURES, OT_WIRE_LEN);
            b[o++] = 0;
        }
        if (i < ne) {
            b[o++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_EVENTS, OT_WIRE_LEN);
            b[o++] = 0;
        }
    }
    *len = o;
    return b;
}

static void
t_figures_decode_and_raw_slices(void **state)
{
    (void)state;
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT;
    a.event_id = "a-1";
    Optally__Figure f1 = OPTALLY__FIGURE__INIT, f2 = OPTALLY__FIGURE__INIT;
    char *scope[] = { "IQ", "SY" };
    f1.figure_id = "fig-1";
    f1.metric = "fighters_at_large";
    f1.scope = scope;
    f1.n_scope = 2;
    f1.value = 2500;
    f1.qualifier = OPTALLY__QUALIFIER__APPROX;
    f2.figure_id = "fig-22";
    f2.unit = "individuals and families";
    Optally__OperationEvent *evs[] = { &a };
    Optally__Figure *figs[] = { &f1, &f2 };
    Optally__EventBatch m = OPTALLY__EVENT_BATCH__INIT;
    m.events = evs;
    m.n_events = 1;
    m.figures = figs;
    m.n_figures = 2;
    m.batch_id = 9;
    size_t len = optally__event_batch__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    optally__event_batch__pack(&m, buf);

    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 20, 10000, &b), 0);
    const Optally__EventBatch *d = ot_wire_batch_msg(b);
    assert_int_equal(d->n_events, 1);
    assert_int_equal(d->n_figures, 2);
    assert_string_equal(d->figures[0]->scope[1], "SY");
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *raw;
        size_t rlen;
        ot_wire_batch_figure_raw(b, i, &raw, &rlen);
        assert_int_equal(rlen, optally__figure__get_packed_size(figs[i]));
        Optally__Figure *back = optally__figure__unpack(NULL, rlen, raw);
        assert_non_null(back);
        assert_string_equal(back->figure_id, figs[i]->figure_id);
        optally__figure__free_unpacked(back, NULL);
        assert_false(ot_wire_figure_has_nul_string(raw, rlen));
    }
    const uint8_t *raw;
    size_t rlen;
    ot_wire_batch_raw(b, 0, &raw, &rlen);
    assert_int_equal(rlen, optally__operation_event__get_packed_size(&a));
    ot_wire_batch_free(&b);
    free(buf);

    /* a figure-only batch */
    m.n_events = 0;
    len = optally__event_batch__get_packed_size(&m);
    buf = malloc(len);
    optally__event_batch__pack(&m, buf);
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 20, 10000, &b), 0);
    assert_int_equal(ot_wire_batch_msg(b)->n_events, 0);
    assert_int_equal(ot_wire_batch_msg(b)->n_figures, 2);
    ot_wire_batch_free(&b);
    free(buf);
}

/* events + figures count against one limit, refused before decoding. */
static void
t_figures_count_toward_the_limit(void **state)
{
    (void)state;
    size_t len;
    ot_wire_batch *b = (ot_wire_batch *)1;
    uint8_t *buf = s_empty_mixed(5000, 5001, &len);
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 30, 10000, &b), OT_ETOOMANY);
    assert_null(b);
    free(buf);
    buf = s_empty_mixed(0, 10001, &len);
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 30, 10000, &b), OT_ETOOMANY);
    free(buf);
    buf = s_empty_mixed(5000, 5000, &len);
    assert_int_equal(ot_wire_batch_decode(buf, len, 1 << 30, 10000, &b), 0);
    assert_int_equal(ot_wire_batch_msg(b)->n_events, 5000);
    assert_int_equal(ot_wire_batch_msg(b)->n_figures, 5000);
    /* the slices follow the interleaving: figure i and event i are 2 bytes
     * apart, the figure first */
    const uint8_t *re, *rf;
    size_t le, lf;
    ot_wire_batch_raw(b, 4999, &re, &le);
    ot_wire_batch_figure_raw(b, 4999, &rf, &lf);
    assert_true(le == 0 && lf == 0 && re == rf + 2);
    ot_wire_batch_free(&b);
    free(buf);
    /* a figures field with another wire type is no EventBatch */
    const uint8_t varint_figures[] = { (uint8_t)OT_WIRE_TAG(OT_F_BATCH_FIGURES, OT_WIRE_VARINT), 1 };
    assert_int_equal(ot_wire_batch_decode(varint_figures, sizeof varint_figures, 1 << 20, 10000,
                                          &b), OT_EDECODE);
}

/* The budget bounds decoded figures as it does events. */
static void
t_figures_within_budget(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = s_empty_mixed(0, 1000000, &len);
    ot_wire_batch *b;
    assert_int_equal(ot_wire_batch_decode(buf, len, 8 << 20, 2000000, &b), OT_EBUDGET);
    assert_null(b);
    free(buf);
}

/* Only Figure's string fields are looked at for NUL bytes. */
static void
t_figure_nul_strings(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &optally__figure__descriptor;
    for (unsigned num = 1; num < 64; num++) {
        uint8_t m[8];
        size_t o = ot_wire_put_varint(m, OT_WIRE_TAG(num, OT_WIRE_LEN));
        m[o++] = 1;
        m[o++] = 0;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, num);
        bool str = fd && fd->type == PROTOBUF_C_TYPE_STRING;
        if (ot_wire_figure_has_nul_string(m, o) != str)
            fail_msg("figure field %u: NUL %s", num, str ? "not seen" : "seen in a non-string field");
    }
    /* scope (repeated) "S\0" in its second element */
    const uint8_t scope_nul[] = { 0x42, 2, 'I', 'Q', 0x42, 2, 'S', 0 };
    assert_true(ot_wire_figure_has_nul_string(scope_nul, sizeof scope_nul));
    const uint8_t bad[] = { 0x0a, 9, 'a' };
    assert_true(ot_wire_figure_has_nul_string(bad, sizeof bad));
}

/* ---- named field numbers ------------------------------------------------ */

typedef struct s_named {
    const ProtobufCMessageDescriptor *d;
    const char *field;
    unsigned num;
} s_named;

static const s_named s_names[] = {
    { &optally__operation_event__descriptor, "event_id", OT_F_EVENT_ID },
    { &optally__operation_event__descriptor, "revision", OT_F_EVENT_REVISION },
    { &optally__operation_event__descriptor, "retracted", OT_F_EVENT_RETRACTED },
    { &optally__operation_event__descriptor, "source", OT_F_EVENT_SOURCE },
    { &optally__operation_event__descriptor, "source_url", OT_F_EVENT_SOURCE_URL },
    { &optally__operation_event__descriptor, "occurred_on", OT_F_EVENT_OCCURRED_ON },
    { &optally__operation_event__descriptor, "occurred_until", OT_F_EVENT_OCCURRED_UNTIL },
    { &optally__operation_event__descriptor, "country", OT_F_EVENT_COUNTRY },
    { &optally__operation_event__descriptor, "admin1", OT_F_EVENT_ADMIN1 },
    { &optally__operation_event__descriptor, "partner_force", OT_F_EVENT_PARTNER_FORCE },
    { &optally__operation_event__descriptor, "operations", OT_F_EVENT_OPERATIONS },
    { &optally__operation_event__descriptor, "killed", OT_F_EVENT_KILLED },
    { &optally__operation_event__descriptor, "detained", OT_F_EVENT_DETAINED },
    { &optally__operation_event__descriptor, "wounded", OT_F_EVENT_WOUNDED },
    { &optally__operation_event__descriptor, "reported_at", OT_F_EVENT_REPORTED_AT },
    { &optally__operation_event__descriptor, "notes", OT_F_EVENT_NOTES },
    { &optally__operation_event__descriptor, "type", OT_F_EVENT_TYPE },
    { &optally__operation_event__descriptor, "granularity", OT_F_EVENT_GRANULARITY },
    { &optally__operation_event__descriptor, "parent_id", OT_F_EVENT_PARENT_ID },
    { &optally__operation_event__descriptor, "countries", OT_F_EVENT_COUNTRIES },
    { &optally__operation_event__descriptor, "killed_low", OT_F_EVENT_KILLED_LOW },
    { &optally__operation_event__descriptor, "killed_high", OT_F_EVENT_KILLED_HIGH },
    { &optally__operation_event__descriptor, "incident", OT_F_EVENT_INCIDENT },
    { &optally__operation_event__descriptor, "via", OT_F_EVENT_VIA },
    { &optally__figure__descriptor, "figure_id", OT_F_FIGURE_ID },
    { &optally__figure__descriptor, "revision", OT_F_FIGURE_REVISION },
    { &optally__figure__descriptor, "retracted", OT_F_FIGURE_RETRACTED },
    { &optally__figure__descriptor, "source", OT_F_FIGURE_SOURCE },
    { &optally__figure__descriptor, "via", OT_F_FIGURE_VIA },
    { &optally__figure__descriptor, "source_url", OT_F_FIGURE_SOURCE_URL },
    { &optally__figure__descriptor, "metric", OT_F_FIGURE_METRIC },
    { &optally__figure__descriptor, "scope", OT_F_FIGURE_SCOPE },
    { &optally__figure__descriptor, "as_of", OT_F_FIGURE_AS_OF },
    { &optally__figure__descriptor, "value", OT_F_FIGURE_VALUE },
    { &optally__figure__descriptor, "qualifier", OT_F_FIGURE_QUALIFIER },
    { &optally__figure__descriptor, "low", OT_F_FIGURE_LOW },
    { &optally__figure__descriptor, "high", OT_F_FIGURE_HIGH },
    { &optally__figure__descriptor, "unit", OT_F_FIGURE_UNIT },
    { &optally__figure__descriptor, "reported_at", OT_F_FIGURE_REPORTED_AT },
    { &optally__figure__descriptor, "notes", OT_F_FIGURE_NOTES },
    { &optally__event_batch__descriptor, "events", OT_F_BATCH_EVENTS },
    { &optally__event_batch__descriptor, "batch_id", OT_F_BATCH_ID },
    { &optally__event_batch__descriptor, "figures", OT_F_BATCH_FIGURES },
    { &optally__log_record__descriptor, "seq", OT_F_LOGRECORD_SEQ },
    { &optally__log_record__descriptor, "received_at", OT_F_LOGRECORD_RECEIVED_AT },
    { &optally__log_record__descriptor, "producer", OT_F_LOGRECORD_PRODUCER },
    { &optally__log_record__descriptor, "event", OT_F_LOGRECORD_EVENT },
    { &optally__log_record__descriptor, "figure", OT_F_LOGRECORD_FIGURE },
};

/* The highest field number of d, and how many of its fields s_names names. */
static void
s_coverage(const ProtobufCMessageDescriptor *d, unsigned *max, unsigned *named)
{
    *max = *named = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (d->fields[i].id > *max)
            *max = d->fields[i].id;
        for (size_t j = 0; j < sizeof s_names / sizeof s_names[0]; j++)
            *named += s_names[j].d == d && strcmp(s_names[j].field, d->fields[i].name) == 0;
    }
}

static void
t_named_fields_match_descriptors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_names / sizeof s_names[0]; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(s_names[i].d, s_names[i].field);
        if (!f)
            fail_msg("%s has no field %s", s_names[i].d->name, s_names[i].field);
        if (f->id != s_names[i].num)
            fail_msg("%s.%s is field %u in the proto, %u in ot_fields.h", s_names[i].d->name,
                     s_names[i].field, f->id, s_names[i].num);
    }
    /* The view holds every field of OperationEvent, and ot_fields.h names
     * every one of them (the table above lists each); the same of Figure,
     * EventBatch and LogRecord (a field added to one fails here until it
     * is named). */
    unsigned max, named;
    s_coverage(&optally__operation_event__descriptor, &max, &named);
    assert_int_equal(max, OT_F_EVENT__MAX);
    assert_int_equal(named, optally__operation_event__descriptor.n_fields);
    s_coverage(&optally__figure__descriptor, &max, &named);
    assert_int_equal(max, OT_F_FIGURE__MAX);
    assert_int_equal(named, optally__figure__descriptor.n_fields);
    s_coverage(&optally__event_batch__descriptor, &max, &named);
    assert_int_equal(named, optally__event_batch__descriptor.n_fields);
    s_coverage(&optally__log_record__descriptor, &max, &named);
    assert_int_equal(named, optally__log_record__descriptor.n_fields);
}

/* ---- the walker --------------------------------------------------------- */

static void
t_walker(void **state)
{
    (void)state;
    /* field 1 varint 300, field 2 fixed64, field 3 len 2, field 4 fixed32 */
    const uint8_t msg[] = { 0x08, 0xac, 0x02,
                            0x11, 1, 2, 3, 4, 5, 6, 7, 8,
                            0x1a, 2, 'h', 'i',
                            0x25, 9, 0, 0, 0 };
    const uint8_t *p = msg, *end = msg + sizeof msg;
    ot_wire_field f;
    assert_int_equal(ot_wire_next_field(&p, end, &f), 0);
    assert_true(f.num == 1 && f.wt == OT_WIRE_VARINT && f.u == 300 && f.val == NULL);
    assert_int_equal(ot_wire_next_field(&p, end, &f), 0);
    assert_true(f.num == 2 && f.wt == OT_WIRE_I64 && f.u == 0x0807060504030201ULL);
    assert_int_equal(ot_wire_next_field(&p, end, &f), 0);
    assert_true(f.num == 3 && f.wt == OT_WIRE_LEN && f.len == 2 && f.val == msg + 14);
    assert_int_equal(ot_wire_next_field(&p, end, &f), 0);
    assert_true(f.num == 4 && f.wt == OT_WIRE_I32 && f.u == 9);
    assert_ptr_equal(p, end);
    /* every cut inside a field is refused */
    size_t starts[] = { 0, 3, 12, 16 };
    for (size_t k = 0; k < 4; k++) {
        size_t next = k < 3 ? starts[k + 1] : sizeof msg;
        for (size_t cut = starts[k] + 1; cut < next; cut++) {
            p = msg + starts[k];
            assert_int_equal(ot_wire_next_field(&p, msg + cut, &f), OT_EDECODE);
        }
    }
    const uint8_t zero[] = { 0x00, 1 }, group[] = { 0x0b }, wt7[] = { 0x0f, 0 };
    p = zero;
    assert_int_equal(ot_wire_next_field(&p, zero + 2, &f), OT_EDECODE);
    p = group;
    assert_int_equal(ot_wire_next_field(&p, group + 1, &f), OT_EDECODE);
    p = wt7;
    assert_int_equal(ot_wire_next_field(&p, wt7 + 2, &f), OT_EDECODE);

    /* varints round trip, at every length */
    uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, (uint64_t)1 << 35, UINT64_MAX };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t b[OT_WIRE_VARINT_MAX];
        size_t n = ot_wire_put_varint(b, vals[i]);
        const uint8_t *q = b;
        uint64_t v;
        assert_int_equal(ot_wire_varint(&q, b + n, &v), 0);
        assert_true(v == vals[i] && q == b + n);
    }
}

/* A batch written field by field with the named tags, as the producer
 * writes it, is the EventBatch protobuf-c reads. */
static void
t_named_tags_write_a_batch(void **state)
{
    (void)state;
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    ev.event_id = "tagged";
    ev.killed = 3;
    uint8_t buf[256];
    size_t len = 0, sz = optally__operation_event__get_packed_size(&ev);
    for (int i = 0; i < 2; i++) {
        buf[len++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_EVENTS, OT_WIRE_LEN);
        len += ot_wire_put_varint(buf + len, sz);
        len += optally__operation_event__pack(&ev, buf + len);
    }
    Optally__Figure fig = OPTALLY__FIGURE__INIT;
    fig.figure_id = "tagged-fig";
    buf[len++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_FIGURES, OT_WIRE_LEN);
    len += ot_wire_put_varint(buf + len, optally__figure__get_packed_size(&fig));
    len += optally__figure__pack(&fig, buf + len);
    buf[len++] = (uint8_t)OT_WIRE_TAG(OT_F_BATCH_ID, OT_WIRE_VARINT);
    len += ot_wire_put_varint(buf + len, 0x123456789ULL);
    Optally__EventBatch *b = optally__event_batch__unpack(NULL, len, buf);
    assert_non_null(b);
    assert_int_equal(b->n_events, 2);
    assert_int_equal(b->n_figures, 1);
    assert_string_equal(b->figures[0]->figure_id, "tagged-fig");
    assert_string_equal(b->events[1]->event_id, "tagged");
    assert_true(b->batch_id == 0x123456789ULL);
    optally__event_batch__free_unpacked(b, NULL);
}

/* ---- the event view ----------------------------------------------------- */

/* Three countries: a full event's repeated field, changed in place by
 * s_change (so each test event has its own array). */
typedef struct s_full {
    Optally__OperationEvent ev;
    char *countries[3];
} s_full;

static void
s_full_event(s_full *full)
{
    Optally__OperationEvent *ev = &full->ev;
    optally__operation_event__init(ev);
    ev->event_id = "view-1";
    ev->revision = 7;
    ev->retracted = true;
    ev->source = "CENTCOM";
    ev->source_url = "https://example.org/x";
    ev->occurred_on = "2024-03-01";
    ev->occurred_until = "2024-03-02";
    ev->country = "IQ";
    ev->admin1 = "Anbar";
    ev->partner_force = "ISF";
    ev->operations = 2;
    ev->killed = 3;
    ev->detained = 4;
    ev->wounded = 5;
    ev->reported_at = 1700000000123;
    ev->notes = "notes";
    ev->type = OPTALLY__OPERATION_TYPE__RAID;
    ev->granularity = OPTALLY__GRANULARITY__AGGREGATE;
    ev->parent_id = "view-parent";
    full->countries[0] = "IQ";
    full->countries[1] = "SY";
    full->countries[2] = "JO";
    ev->countries = full->countries;
    ev->n_countries = 3;
    ev->killed_low = 2;
    ev->killed_high = 9;
    ev->incident = "inc-1";
    ev->via = "Reuters";
}

/* Change field f of ev (a full event) to another value. */
static void
s_change(Optally__OperationEvent *ev, const ProtobufCFieldDescriptor *f)
{
    char *p = (char *)ev + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        /* countries: another code in the middle */
        assert_int_equal(f->type, PROTOBUF_C_TYPE_STRING);
        char **elems = *(char ***)p;
        assert_true(*(size_t *)((char *)ev + f->quantifier_offset) >= 2);
        elems[1] = "TR";
        return;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: *(char **)p = "changed"; break;
    case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)p += 1; break;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32: *(int *)p += 1; break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = !*(protobuf_c_boolean *)p; break;
    case PROTOBUF_C_TYPE_INT64: *(int64_t *)p += 1; break;
    default: fail_msg("field %s: a type this test does not know", f->name);
    }
}

static void
t_event_view(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    s_full full;
    s_full_event(&full);
    Optally__OperationEvent ev = full.ev;
    uint8_t buf[512];
    size_t len = optally__operation_event__pack(&ev, buf);
    ot_event_view wire, mem;
    assert_int_equal(ot_event_view_parse(buf, len, &wire), 0);
    ot_event_view_of(&ev, &mem);
    assert_true(ot_event_view_same_content(&wire, &mem));
    assert_int_equal(ot_event_view_revision(&wire), 7);
    for (unsigned i = 0; i < d->n_fields; i++) {
        unsigned id = d->fields[i].id;
        assert_int_equal(wire.len[id], mem.len[id]);
        if (wire.len[id])
            assert_memory_equal(wire.str[id], mem.str[id], wire.len[id]);
        assert_true(wire.num[id] == mem.num[id]);
    }
    /* the repeated countries, apart and in order */
    assert_int_equal(wire.ncountries, 3);
    assert_int_equal(mem.ncountries, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(wire.countries_len[i], 2);
        assert_memory_equal(wire.countries[i], full.countries[i], 2);
        assert_int_equal(mem.countries_len[i], 2);
        assert_memory_equal(mem.countries[i], full.countries[i], 2);
    }
    assert_null(wire.str[OT_F_EVENT_COUNTRIES]);
    assert_int_equal(ot_event_view_granularity(&wire), OPTALLY__GRANULARITY__AGGREGATE);
    ot_counts c;
    ot_counts_of_view(&wire, &c);
    assert_true(ot_counts_zero(&c));          /* retracted */
    wire.num[OT_F_EVENT_RETRACTED] = 0;
    ot_counts_of_view(&wire, &c);
    assert_true(c.events == 1 && c.operations == 2 && c.killed == 3 && c.detained == 4 &&
                c.wounded == 5 && c.killed_low == 2 && c.killed_high == 9);

    /* every content field counts, reported_at does not; the same on the
     * wire and through the struct comparison */
    for (unsigned i = 0; i < d->n_fields; i++) {
        s_full ofull;
        s_full_event(&ofull);
        Optally__OperationEvent other = ofull.ev;
        s_change(&other, &d->fields[i]);
        uint8_t ob[512];
        size_t olen = optally__operation_event__pack(&other, ob);
        ot_event_view ov;
        ot_event_view_parse(buf, len, &wire);
        assert_int_equal(ot_event_view_parse(ob, olen, &ov), 0);
        bool same = d->fields[i].id == OT_F_EVENT_REPORTED_AT;
        if (ot_event_view_same_content(&wire, &ov) != same ||
            ot_event_same_content(&ev, &other) != same)
            fail_msg("field %s: same content should be %d", d->fields[i].name, same);
    }

    /* countries: order, count and a missing one all count */
    {
        char *cs1[] = { "IQ", "SY" }, *cs2[] = { "SY", "IQ" }, *cs3[] = { "IQ" };
        Optally__OperationEvent x = OPTALLY__OPERATION_EVENT__INIT, y = x;
        x.countries = cs1;
        x.n_countries = 2;
        y.countries = cs2;
        y.n_countries = 2;
        assert_false(ot_event_same_content(&x, &y));
        y.countries = cs3;
        y.n_countries = 1;
        assert_false(ot_event_same_content(&x, &y));
        y.n_countries = 0;
        assert_false(ot_event_same_content(&x, &y));
        y.countries = cs1;
        y.n_countries = 2;
        assert_true(ot_event_same_content(&x, &y));
    }

    /* absent strings: NULL and "" are the same (proto3) */
    Optally__OperationEvent a = OPTALLY__OPERATION_EVENT__INIT, b = a;
    a.notes = "";
    b.notes = NULL;
    assert_true(ot_event_same_content(&a, &b));

    /* a NUL inside a wire string: compared up to it, as protobuf-c's C
     * string would be ("ab\0c" and "ab") */
    const uint8_t nul[] = { 0x0a, 4, 'a', 'b', 0, 'c' }, ab[] = { 0x0a, 2, 'a', 'b' };
    ot_event_view vn, vab;
    assert_int_equal(ot_event_view_parse(nul, sizeof nul, &vn), 0);
    assert_int_equal(ot_event_view_parse(ab, sizeof ab, &vab), 0);
    assert_true(ot_event_view_same_content(&vn, &vab));

    /* an unknown field number is skipped, as protobuf-c keeps it aside */
    uint8_t unk[16] = { (uint8_t)OT_WIRE_TAG(OT_F_EVENT_ID, OT_WIRE_LEN), 1, 'z' };
    size_t ul = 3;
    ul += ot_wire_put_varint(unk + ul, OT_WIRE_TAG(OT_F_EVENT__MAX + 1, OT_WIRE_VARINT));
    unk[ul++] = 5;
    assert_int_equal(ot_event_view_parse(unk, ul, &vn), 0);
    assert_int_equal(vn.len[OT_F_EVENT_ID], 1);
    Optally__OperationEvent *u = optally__operation_event__unpack(NULL, ul, unk);
    assert_non_null(u);
    optally__operation_event__free_unpacked(u, NULL);
}

/* countries: up to OT_EVENT_COUNTRIES_MAX occurrences parse, one more is
 * OT_EDECODE; a decoded message holding more gives a view that is the
 * same content as nothing (not even itself), never a silently cut one. */
static void
t_event_view_countries_limit(void **state)
{
    (void)state;
    char *cs[OT_EVENT_COUNTRIES_MAX + 1];
    for (size_t i = 0; i <= OT_EVENT_COUNTRIES_MAX; i++)
        cs[i] = "IQ";
    cs[OT_EVENT_COUNTRIES_MAX - 1] = "SY";
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    ev.event_id = "many";
    ev.countries = cs;
    ev.n_countries = OT_EVENT_COUNTRIES_MAX;
    uint8_t buf[512];
    size_t len = optally__operation_event__pack(&ev, buf);
    ot_event_view v, m;
    assert_int_equal(ot_event_view_parse(buf, len, &v), 0);
    assert_int_equal(v.ncountries, OT_EVENT_COUNTRIES_MAX);
    assert_memory_equal(v.countries[OT_EVENT_COUNTRIES_MAX - 1], "SY", 2);
    ot_event_view_of(&ev, &m);
    assert_true(ot_event_view_same_content(&v, &m));
    ev.n_countries = OT_EVENT_COUNTRIES_MAX + 1;
    len = optally__operation_event__pack(&ev, buf);
    assert_int_equal(ot_event_view_parse(buf, len, &v), OT_EDECODE);
    ot_event_view_of(&ev, &m);
    assert_int_equal(m.ncountries, OT_EVENT_COUNTRIES_MAX + 1);
    assert_false(ot_event_view_same_content(&m, &m));
    assert_false(ot_event_same_content(&ev, &ev));
}

/* For every field and every wire type: the view refuses a field exactly
 * when protobuf-c refuses it, but for bool fields, where protobuf-c reads
 * any wire type and the view, stricter, only the varint every writer uses
 * (a stored record with another is then OT_ECORRUPT, never misread). */
static void
t_event_view_wire_types_agree_with_protobuf_c(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &optally__operation_event__descriptor;
    static const int wts[] = { OT_WIRE_VARINT, OT_WIRE_I64, OT_WIRE_LEN, OT_WIRE_I32 };
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        for (size_t w = 0; w < sizeof wts / sizeof wts[0]; w++) {
            uint8_t m[32];
            size_t n = ot_wire_put_varint(m, OT_WIRE_TAG(f->id, wts[w]));
            if (wts[w] == OT_WIRE_VARINT) {
                m[n++] = 1;
            } else if (wts[w] == OT_WIRE_LEN) {
                m[n++] = 1;
                m[n++] = 'x';
            } else {
                size_t width = wts[w] == OT_WIRE_I64 ? 8 : 4;
                memset(m + n, 0, width);
                n += width;
            }
            ot_event_view v;
            bool view_ok = ot_event_view_parse(m, n, &v) == 0;
            Optally__OperationEvent *e = optally__operation_event__unpack(NULL, n, m);
            bool pbc_ok = e != NULL;
            if (e)
                optally__operation_event__free_unpacked(e, NULL);
            bool want = f->type == PROTOBUF_C_TYPE_BOOL ? wts[w] == OT_WIRE_VARINT : pbc_ok;
            if (f->type == PROTOBUF_C_TYPE_BOOL)
                assert_true(pbc_ok);    /* the divergence is still protobuf-c's laxness */
            if (view_ok != want)
                fail_msg("field %s, wire type %d: view %s, protobuf-c %s", f->name, wts[w],
                         view_ok ? "accepts" : "refuses", pbc_ok ? "accepts" : "refuses");
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_decode_ok_and_raw_slices),
        cmocka_unit_test(t_too_many_events_refused_before_decoding),
        cmocka_unit_test(t_budget_bounds_decoding),
        cmocka_unit_test(t_garbage_and_truncation),
        cmocka_unit_test(t_nul_in_string_seen_on_wire),
        cmocka_unit_test(t_nul_only_in_string_fields),
        cmocka_unit_test(t_figures_decode_and_raw_slices),
        cmocka_unit_test(t_figures_count_toward_the_limit),
        cmocka_unit_test(t_figures_within_budget),
        cmocka_unit_test(t_figure_nul_strings),
        cmocka_unit_test(t_named_fields_match_descriptors),
        cmocka_unit_test(t_walker),
        cmocka_unit_test(t_named_tags_write_a_batch),
        cmocka_unit_test(t_event_view),
        cmocka_unit_test(t_event_view_countries_limit),
        cmocka_unit_test(t_event_view_wire_types_agree_with_protobuf_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
