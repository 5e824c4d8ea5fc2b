/*
 * test_json: unit tests of lib/ot_json.c: JSON -> event -> JSON round
 * trips, every refusal (each an OT_EJSON naming the field), integers as
 * numbers and strings, the enum by name and number, the writer's escaping,
 * the growing buffer, the JSON form of a LogRecord (read with the same
 * strictness as an event, written byte for byte as `log export` always
 * has), and the terminal-safe JSON text writer. Runs under ASan, which also checks that
 * ot_json_event_free frees everything and that len bounds every read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_figure.h"
#include "ot_json.h"

/* Every field, in field-number order, as the writer prints it. */
static const char s_full[] =
    "{\"event_id\":\"centcom-1\",\"revision\":2,\"retracted\":true,\"source\":\"CENTCOM\","
    "\"source_url\":\"https://x.example/a?b=1\",\"occurred_on\":\"2024-01-15\","
    "\"occurred_until\":\"2024-01-16\",\"country\":\"IQ\",\"admin1\":\"Nīnawā\","
    "\"partner_force\":\"ISF\",\"operations\":3,\"killed\":2,\"detained\":1,\"wounded\":4,"
    "\"reported_at\":1718000000000,\"notes\":\"line1\\nline2 \\\"q\\\"\",\"type\":\"PARTNERED\"}";

static Optally__OperationEvent *
s_parse_ok(const char *json)
{
    Optally__OperationEvent *ev = NULL;
    char err[200] = "";
    int rc = ot_json_to_event(json, strlen(json), &ev, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: rc %d: %s", json, rc, err);
    assert_non_null(ev);
    return ev;
}

/* json is refused with OT_EJSON, *out stays NULL, and the message holds
 * every one of words (NULL-terminated). */
static void
s_parse_err(const char *json, const char *word)
{
    Optally__OperationEvent *ev = (Optally__OperationEvent *)&ev;
    char err[200] = "";
    int rc = ot_json_to_event(json, strlen(json), &ev, err, sizeof err);
    if (rc != OT_EJSON)
        fail_msg("%s: rc %d, want OT_EJSON", json, rc);
    assert_null(ev);
    if (word != NULL && strstr(err, word) == NULL)
        fail_msg("%s: message \"%s\" does not mention '%s'", json, err, word);
}

static char *
s_write(const Optally__OperationEvent *ev)
{
    char *out = NULL;
    assert_int_equal(ot_json_from_event(ev, &out), 0);
    assert_non_null(out);
    return out;
}

static void
t_round_trip(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok(s_full), *again;
    char *out;

    assert_string_equal(ev->event_id, "centcom-1");
    assert_int_equal(ev->revision, 2);
    assert_true(ev->retracted);
    assert_string_equal(ev->admin1, "Nīnawā");
    assert_int_equal(ev->wounded, 4);
    assert_int_equal(ev->reported_at, 1718000000000LL);
    assert_string_equal(ev->notes, "line1\nline2 \"q\"");
    assert_int_equal(ev->type, OPTALLY__OPERATION_TYPE__PARTNERED);

    out = s_write(ev);
    assert_string_equal(out, s_full);
    again = s_parse_ok(out);
    assert_true(ot_event_same_content(ev, again));
    assert_int_equal(again->reported_at, ev->reported_at);
    free(out);
    ot_json_event_free(&again);
    ot_json_event_free(&ev);
    assert_null(ev);
    ot_json_event_free(&ev);    /* safe twice */
    ot_json_event_free(NULL);
}

/* Absent fields are left out (event_id never), and an event made here packs
 * and unpacks like any other. */
static void
t_minimal_and_pack(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok(" {\"event_id\":\"e\",\"killed\":0,\"notes\":\"\","
                                             "\"retracted\":false,\"source\":null} \n");
    Optally__OperationEvent empty = OPTALLY__OPERATION_EVENT__INIT;
    uint8_t wire[256];
    char *out = s_write(ev);

    assert_string_equal(out, "{\"event_id\":\"e\"}");
    free(out);
    out = s_write(&empty);
    assert_string_equal(out, "{\"event_id\":\"\"}");
    free(out);

    size_t n = optally__operation_event__get_packed_size(ev);
    assert_true(n < sizeof wire);
    assert_int_equal(optally__operation_event__pack(ev, wire), n);
    Optally__OperationEvent *back = optally__operation_event__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_true(ot_event_same_content(ev, back));
    optally__operation_event__free_unpacked(back, NULL);
    ot_json_event_free(&ev);
}

static void
t_errors_name_the_field(void **state)
{
    (void)state;
    s_parse_err("{\"event_id\":\"e\",\"kiled\":1}", "'kiled'");
    s_parse_err("{\"killed\":-1}", "'killed'");
    s_parse_err("{\"killed\":-1}", "non-negative");
    s_parse_err("{\"killed\":1.5}", "'killed'");
    s_parse_err("{\"killed\":4294967296}", "'killed'");
    s_parse_err("{\"killed\":1e300}", "'killed'");
    s_parse_err("{\"killed\":\"abc\"}", "'killed'");
    s_parse_err("{\"killed\":\"-1\"}", "'killed'");
    s_parse_err("{\"killed\":\" 1\"}", "'killed'");
    s_parse_err("{\"killed\":\"\"}", "'killed'");
    s_parse_err("{\"killed\":true}", "'killed'");
    s_parse_err("{\"killed\":[1]}", "'killed'");
    s_parse_err("{\"revision\":{}}", "'revision'");
    s_parse_err("{\"event_id\":5}", "'event_id'");
    s_parse_err("{\"event_id\":[\"a\"]}", "'event_id'");
    s_parse_err("{\"retracted\":\"yes\"}", "'retracted'");
    s_parse_err("{\"retracted\":1}", "'retracted'");
    s_parse_err("{\"type\":\"FOO\"}", "'type'");
    s_parse_err("{\"type\":\"partnered\"}", "'type'");
    s_parse_err("{\"type\":1.5}", "'type'");
    s_parse_err("{\"type\":true}", "'type'");
    s_parse_err("{\"type\":4294967296}", "'type'");
    s_parse_err("{\"reported_at\":\"12x\"}", "'reported_at'");
    s_parse_err("{\"reported_at\":\"9223372036854775808\"}", "'reported_at'");
    s_parse_err("{\"reported_at\":1e19}", "'reported_at'");
    s_parse_err("{\"reported_at\":9007199254740993}", "decimal string");
    s_parse_err("{\"killed\":1,\"killed\":1}", "'killed'");
    s_parse_err("{\"Event_id\":\"e\"}", "'Event_id'");
    s_parse_err("{\"eventId\":\"e\"}", "'eventId'");
}

static void
t_not_an_object(void **state)
{
    (void)state;
    s_parse_err("[]", "object");
    s_parse_err("[{\"event_id\":\"e\"}]", "array");
    s_parse_err("\"e\"", "string");
    s_parse_err("5", "number");
    s_parse_err("null", "null");
    s_parse_err("true", "boolean");
}

static void
t_invalid_json(void **state)
{
    (void)state;
    s_parse_err("{", "invalid JSON");
    s_parse_err("{\"event_id\":}", "invalid JSON");
    s_parse_err("{\"event_id\":\"e\",}", "invalid JSON");
    s_parse_err("{event_id:\"e\"}", "invalid JSON");
    s_parse_err("{} {}", "after the object");
    s_parse_err("{}x", "after the object");
    s_parse_err("", "empty");
    s_parse_err("   ", "invalid JSON");
    s_parse_err("{\"event_id\":\"a\\u0000b\"}", "\\u0000");
    s_parse_err("{\"a\\u0000\":1}", "\\u0000");

    Optally__OperationEvent *ev = (Optally__OperationEvent *)&ev;
    const char raw[] = "{\"event_id\":\"a\0b\"}";
    char err[100];
    assert_int_equal(ot_json_to_event(raw, sizeof raw - 1, &ev, err, sizeof err), OT_EJSON);
    assert_null(ev);
    assert_non_null(strstr(err, "NUL"));

    /* A tiny error buffer still gets a terminated message; none at all is fine. */
    char tiny[8];
    assert_int_equal(ot_json_to_event("[]", 2, &ev, tiny, sizeof tiny), OT_EJSON);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_int_equal(ot_json_to_event("[]", 2, &ev, NULL, 0), OT_EJSON);
}

/* An escaped backslash before "u0000" is text, not a NUL escape. */
static void
t_escaped_backslash(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok("{\"notes\":\"C:\\\\u0000\"}");
    assert_string_equal(ev->notes, "C:\\u0000");
    ot_json_event_free(&ev);
}

static void
t_integers(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok(
        "{\"reported_at\":\"1718000000000\",\"killed\":\"12\",\"wounded\":4294967295,"
        "\"detained\":1e2,\"operations\":\"007\"}");
    assert_int_equal(ev->reported_at, 1718000000000LL);
    assert_int_equal(ev->killed, 12);
    assert_int_equal(ev->wounded, UINT32_MAX);
    assert_int_equal(ev->detained, 100);
    assert_int_equal(ev->operations, 7);
    ot_json_event_free(&ev);

    ev = s_parse_ok("{\"reported_at\":\"-9223372036854775808\"}");
    assert_true(ev->reported_at == INT64_MIN);
    ot_json_event_free(&ev);
    ev = s_parse_ok("{\"reported_at\":\"9223372036854775807\"}");
    assert_true(ev->reported_at == INT64_MAX);
    char *out = s_write(ev);   /* beyond 2^53: written as a string, read back exactly */
    assert_string_equal(out, "{\"event_id\":\"\",\"reported_at\":\"9223372036854775807\"}");
    ot_json_event_free(&ev);
    ev = s_parse_ok(out);
    assert_true(ev->reported_at == INT64_MAX);
    free(out);
    ot_json_event_free(&ev);
    ev = s_parse_ok("{\"reported_at\":-5}");
    assert_int_equal(ev->reported_at, -5);
    out = s_write(ev);
    assert_string_equal(out, "{\"event_id\":\"\",\"reported_at\":-5}");
    free(out);
    ot_json_event_free(&ev);
}

static void
t_enum(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok("{\"type\":\"RAID\"}");
    char *out;

    assert_int_equal(ev->type, OPTALLY__OPERATION_TYPE__RAID);
    ot_json_event_free(&ev);
    ev = s_parse_ok("{\"type\":3}");
    assert_int_equal(ev->type, OPTALLY__OPERATION_TYPE__AIRSTRIKE);
    out = s_write(ev);
    assert_string_equal(out, "{\"event_id\":\"\",\"type\":\"AIRSTRIKE\"}");
    free(out);
    ot_json_event_free(&ev);
    ev = s_parse_ok("{\"type\":\"2\"}");
    assert_int_equal(ev->type, OPTALLY__OPERATION_TYPE__UNILATERAL);
    ot_json_event_free(&ev);
    ev = s_parse_ok("{\"type\":\"OPERATION_TYPE_UNSPECIFIED\"}");
    assert_int_equal(ev->type, 0);
    ot_json_event_free(&ev);

    /* An unknown number is kept (validation refuses it) and written back. */
    ev = s_parse_ok("{\"type\":99}");
    assert_int_equal(ev->type, 99);
    out = s_write(ev);
    assert_string_equal(out, "{\"event_id\":\"\",\"type\":99}");
    free(out);
    ot_json_event_free(&ev);
}

/* len bounds the text: bytes after it are never read. */
static void
t_length_bounded(void **state)
{
    (void)state;
    const char *text = "{\"event_id\":\"e\"}garbage";
    char *copy = malloc(16);
    Optally__OperationEvent *ev = NULL;
    char err[100];

    assert_non_null(copy);
    memcpy(copy, text, 16);   /* exactly the object, no NUL: ASan sees any overread */
    assert_int_equal(ot_json_to_event(copy, 16, &ev, err, sizeof err), 0);
    assert_string_equal(ev->event_id, "e");
    ot_json_event_free(&ev);
    assert_int_equal(ot_json_to_event(copy, 15, &ev, err, sizeof err), OT_EJSON);
    assert_null(ev);
    free(copy);
}

static void
t_writer_escapes(void **state)
{
    (void)state;
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    char *out;

    ev.event_id = (char *)"q\"b\\s/";
    ev.notes = (char *)"\x01\x1f\t\r\n\b\f\x7f é 😀";
    ev.admin1 = (char *)"bad\xff\xc0\xafutf8\xe2\x82";
    out = s_write(&ev);
    assert_string_equal(out, "{\"event_id\":\"q\\\"b\\\\s/\","
                             "\"admin1\":\"bad\\ufffd\\ufffd\\ufffdutf8\\ufffd\\ufffd\","
                             "\"notes\":\"\\u0001\\u001f\\t\\r\\n\\b\\f\x7f é 😀\"}");
    Optally__OperationEvent *back = s_parse_ok(out);
    assert_string_equal(back->notes, ev.notes);
    assert_string_equal(back->event_id, ev.event_id);
    ot_json_event_free(&back);
    free(out);
}

static void
t_buf(void **state)
{
    (void)state;
    ot_buf b = {NULL, 0, 0};

    assert_int_equal(ot_buf_append(&b, "ab", 2), 0);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ot_buf_printf(&b, "%d,", i), 0);
    assert_int_equal(b.len, strlen(b.data));
    assert_true(b.cap > b.len);
    assert_non_null(strstr(b.data, ",998,999,"));
    ot_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    ot_buf_free(&b);

    /* n counts bytes: an embedded NUL is escaped, not an end. */
    assert_int_equal(ot_buf_json_string(&b, "a\0b", 3), 0);
    assert_string_equal(b.data, "\"a\\u0000b\"");
    assert_int_equal(ot_buf_json_string(&b, NULL, 0), 0);
    assert_string_equal(b.data, "\"a\\u0000b\"\"\"");
    ot_buf_free(&b);

    /* A string cut inside a character: the partial character is replaced. */
    assert_int_equal(ot_buf_json_string(&b, "é", 1), 0);
    assert_string_equal(b.data, "\"\\ufffd\"");
    ot_buf_free(&b);
}

/* ---- LogRecord ----------------------------------------------------------- */

#define S_EV "{\"event_id\":\"a-1\",\"source\":\"T\",\"occurred_on\":\"2024-01-02\"," \
             "\"country\":\"IQ\",\"operations\":1}"

static Optally__LogRecord *
s_rec_ok(const char *json)
{
    Optally__LogRecord *r = NULL;
    char err[300] = "";
    int rc = ot_json_to_logrec(json, strlen(json), &r, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: rc %d: %s", json, rc, err);
    assert_non_null(r);
    assert_non_null(r->event);
    return r;
}

/* json is refused with OT_EJSON, *out stays NULL, and the message holds
 * each of the two words (word2 may be NULL). */
static void
s_rec_err(const char *json, const char *word, const char *word2)
{
    Optally__LogRecord *r = (Optally__LogRecord *)&r;
    char err[300] = "";
    int rc = ot_json_to_logrec(json, strlen(json), &r, err, sizeof err);
    if (rc != OT_EJSON)
        fail_msg("%s: rc %d, want OT_EJSON", json, rc);
    assert_null(r);
    if (strstr(err, word) == NULL || (word2 != NULL && strstr(err, word2) == NULL))
        fail_msg("%s: message \"%s\" does not mention '%s' and '%s'", json, err, word,
                 word2 ? word2 : "");
}

/* Every loose record line of issue 10 item 9 is refused, naming the field
 * and what it expected. */
static void
t_logrec_strict(void **state)
{
    (void)state;
    s_rec_err("{\"seq\":1,\"event\":" S_EV "} trailing-garbage", "text after the object", NULL);
    s_rec_err("{\"seq\":1,\"event\":" S_EV "}{}", "text after the object", NULL);
    s_rec_err("{\"seq\":\"abc\",\"event\":" S_EV "}", "'seq'", "non-negative integer");
    s_rec_err("{\"seq\":-1,\"event\":" S_EV "}", "'seq'", "non-negative integer");
    s_rec_err("{\"seq\":1.5,\"event\":" S_EV "}", "'seq'", "non-negative integer");
    s_rec_err("{\"seq\":true,\"event\":" S_EV "}", "'seq'", "got a boolean");
    s_rec_err("{\"received_at\":1.5,\"event\":" S_EV "}", "'received_at'", "expected an integer");
    s_rec_err("{\"received_at\":\"x\",\"event\":" S_EV "}", "'received_at'", "an integer");
    s_rec_err("{\"producer\":\"not base64!\",\"event\":" S_EV "}", "'producer'", "base64");
    s_rec_err("{\"producer\":\"QQ\",\"event\":" S_EV "}", "'producer'", "padded");
    s_rec_err("{\"producer\":\"QR==\",\"event\":" S_EV "}", "'producer'", "base64");   /* stray bits */
    s_rec_err("{\"producer\":\"Q===\",\"event\":" S_EV "}", "'producer'", "base64");
    s_rec_err("{\"producer\":\"=AAA\",\"event\":" S_EV "}", "'producer'", "base64");
    s_rec_err("{\"producer\":\"AA=A\",\"event\":" S_EV "}", "'producer'", "base64");
    s_rec_err("{\"producer\":7,\"event\":" S_EV "}", "'producer'", "a base64 string");
    s_rec_err("{\"seq\":1,\"event\":null}", "'event'", "expected an object");
    s_rec_err("{\"seq\":1,\"event\":[]}", "'event'", "expected an object");
    s_rec_err("{\"seq\":1,\"event\":" S_EV ",\"event\":" S_EV "}", "'event'", "more than once");
    s_rec_err("{\"seq\":1,\"seq\":2,\"event\":" S_EV "}", "'seq'", "more than once");
    s_rec_err("{\"seq\":1,\"bogus\":2,\"event\":" S_EV "}", "'bogus'", "log record");
    s_rec_err("{\"seq\":1,\"event\":{\"event_id\":\"x\",\"killed\":-1}}", "'event.killed'",
              "non-negative");
    s_rec_err("{\"seq\":1,\"event\":{\"event_id\":\"x\",\"kiled\":1}}", "'event.kiled'", NULL);
    s_rec_err("{\"seq\":1,\"event\":{\"type\":\"NOPE\"}}", "'event.type'", NULL);
    /* A bare event keeps ot_json_to_event's messages. */
    s_rec_err("{\"event_id\":\"e\",\"kiled\":1}", "unknown field 'kiled'", "proto/optally.proto");
    s_rec_err("[1]", "expected a JSON object", NULL);
    s_rec_err("", "empty input", NULL);
}

/* A record's fields are read; a bare event is a record of it alone; the
 * member "event" is found by its unescaped name. */
static void
t_logrec_read(void **state)
{
    (void)state;
    Optally__LogRecord *r = s_rec_ok("{\"seq\":42,\"received_at\":-5,\"producer\":\"AAH/\","
                                     "\"event\":" S_EV "}");
    assert_int_equal(r->seq, 42);
    assert_int_equal(r->received_at, -5);
    assert_int_equal(r->producer.len, 3);
    assert_memory_equal(r->producer.data, "\x00\x01\xff", 3);
    assert_string_equal(r->event->event_id, "a-1");
    ot_json_logrec_free(&r);
    assert_null(r);
    ot_json_logrec_free(&r);

    r = s_rec_ok("{\"seq\":1,\"\\u0065vent\":" S_EV "}");
    assert_int_equal(r->seq, 1);
    assert_string_equal(r->event->country, "IQ");
    ot_json_logrec_free(&r);

    r = s_rec_ok("{\"seq\":\"7\",\"producer\":\"QQ==\",\"event\":{}}");
    assert_int_equal(r->seq, 7);
    assert_int_equal(r->producer.len, 1);
    assert_int_equal(r->producer.data[0], 'A');
    ot_json_logrec_free(&r);

    r = s_rec_ok("{\"producer\":\"\",\"received_at\":null,\"event\":{}}");
    assert_int_equal(r->producer.len, 0);
    ot_json_logrec_free(&r);

    r = s_rec_ok(S_EV);
    assert_int_equal(r->seq, 0);
    assert_string_equal(r->event->event_id, "a-1");
    ot_json_logrec_free(&r);
}

/* The writer's bytes are those `log export --format json` has always
 * written, and they read back to the same record. */
static void
t_logrec_write(void **state)
{
    (void)state;
    Optally__LogRecord rec = OPTALLY__LOG_RECORD__INIT;
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    ot_buf b = {NULL, 0, 0};

    ev.event_id = (char *)"e-1";
    ev.killed = 2;
    rec.seq = 9;
    rec.received_at = 1718000000000LL;
    rec.event = &ev;
    assert_int_equal(ot_json_from_logrec(&b, &rec), 0);
    assert_string_equal(b.data, "{\"seq\":9,\"received_at\":1718000000000,"
                                "\"event\":{\"event_id\":\"e-1\",\"killed\":2}}");
    for (size_t n = 0; n <= 5; n++) {
        static const uint8_t id[5] = {0x00, 0xfb, 0xff, 0x10, 0x7f};
        Optally__LogRecord *back;
        rec.producer.data = (uint8_t *)id;
        rec.producer.len = n;
        b.len = 0;
        assert_int_equal(ot_json_from_logrec(&b, &rec), 0);
        if (n == 5)
            assert_non_null(strstr(b.data, ",\"producer\":\"APv/EH8=\","));
        back = s_rec_ok(b.data);
        assert_int_equal(back->seq, 9);
        assert_int_equal(back->received_at, 1718000000000LL);
        assert_int_equal(back->producer.len, n);
        if (n)
            assert_memory_equal(back->producer.data, id, n);
        assert_true(ot_event_same_content(back->event, &ev));
        ot_json_logrec_free(&back);
    }
    ot_buf_free(&b);
}

/* ot_buf_json_text: every control a terminal acts on is a \u escape; the
 * value parses back unchanged. */
static void
t_json_text(void **state)
{
    (void)state;
    static const char in[] = "a\x1b[2J\x7f\xc2\x9b\xc2\x85\xe2\x80\xae\xe2\x80\xa8 é 😀\n\"";
    ot_buf b = {NULL, 0, 0};
    Optally__OperationEvent *ev;
    char json[200];

    assert_int_equal(ot_buf_json_text(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "\"a\\u001b[2J\\u007f\\u009b\\u0085\\u202e\\u2028 é 😀\\n\\\"\"");
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20 && b.data[i] != 0x7f);
    assert_true((size_t)snprintf(json, sizeof json, "{\"notes\":%s}", b.data) < sizeof json);
    ev = s_parse_ok(json);
    assert_string_equal(ev->notes, in);
    ot_json_event_free(&ev);
    ot_buf_free(&b);

    assert_true(ot_text_is_control(0x00));
    assert_true(ot_text_is_control(0x1f));
    assert_true(ot_text_is_control(0x7f));
    assert_true(ot_text_is_control(0x9b));
    assert_true(ot_text_is_control(0x202e));
    assert_true(ot_text_is_control(0x2069));
    assert_false(ot_text_is_control(' '));
    assert_false(ot_text_is_control(0xa0));
    assert_false(ot_text_is_control(0xe9));
    assert_false(ot_text_is_control(0x1f600));
    assert_int_equal(ot_text_code_point("\xf0\x9f\x98\x80", 4), 0x1f600);
    assert_int_equal(ot_text_code_point("\xc2\x9b", 2), 0x9b);
}

/* ---- issue 11: the new event fields, figures, records of figures ------- */

/* The new event fields, in field-number order, after the first ones. */
static const char s_agg[] =
    "{\"event_id\":\"centcom-q1-iq\",\"source\":\"CENTCOM\",\"occurred_on\":\"2024-01-01\","
    "\"occurred_until\":\"2024-03-31\",\"operations\":94,\"killed\":18,\"detained\":63,"
    "\"granularity\":\"AGGREGATE\",\"parent_id\":\"centcom-q1\",\"countries\":[\"IQ\",\"SY\"],"
    "\"killed_low\":15,\"killed_high\":20,\"incident\":\"raid-7\",\"via\":\"Kurdistan24\"}";

static void
t_event_new_fields(void **state)
{
    (void)state;
    Optally__OperationEvent *ev = s_parse_ok(s_agg), *back;
    uint8_t wire[512];
    char *out;

    assert_int_equal(ev->granularity, OPTALLY__GRANULARITY__AGGREGATE);
    assert_string_equal(ev->parent_id, "centcom-q1");
    assert_int_equal(ev->n_countries, 2);
    assert_string_equal(ev->countries[0], "IQ");
    assert_string_equal(ev->countries[1], "SY");
    assert_int_equal(ev->killed_low, 15);
    assert_int_equal(ev->killed_high, 20);
    assert_string_equal(ev->incident, "raid-7");
    assert_string_equal(ev->via, "Kurdistan24");
    out = s_write(ev);
    assert_string_equal(out, s_agg);
    free(out);

    /* laid out as protobuf-c lays one out: packs, unpacks, frees */
    size_t n = optally__operation_event__get_packed_size(ev);
    assert_true(n < sizeof wire);
    assert_int_equal(optally__operation_event__pack(ev, wire), n);
    back = optally__operation_event__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_int_equal(back->n_countries, 2);
    assert_string_equal(back->countries[1], "SY");
    assert_true(ot_event_same_content(ev, back));
    optally__operation_event__free_unpacked(back, NULL);
    ot_json_event_free(&ev);

    /* defaults are left out: OPERATION, an empty list, zero estimates */
    ev = s_parse_ok("{\"event_id\":\"e\",\"granularity\":\"OPERATION\",\"countries\":[],"
                    "\"killed_low\":0,\"via\":\"\",\"parent_id\":null}");
    assert_int_equal(ev->granularity, OPTALLY__GRANULARITY__OPERATION);
    assert_int_equal(ev->n_countries, 0);
    out = s_write(ev);
    assert_string_equal(out, "{\"event_id\":\"e\"}");
    free(out);
    ot_json_event_free(&ev);

    /* the enum by number; an empty code is kept for validation to refuse */
    ev = s_parse_ok("{\"event_id\":\"e\",\"granularity\":1,\"countries\":[\"\",\"IQ\"]}");
    assert_int_equal(ev->granularity, OPTALLY__GRANULARITY__AGGREGATE);
    assert_int_equal(ev->n_countries, 2);
    assert_string_equal(ev->countries[0], "");
    out = s_write(ev);
    assert_string_equal(out, "{\"event_id\":\"e\",\"granularity\":\"AGGREGATE\","
                             "\"countries\":[\"\",\"IQ\"]}");
    free(out);
    ot_json_event_free(&ev);
}

static void
t_event_new_field_errors(void **state)
{
    (void)state;
    s_parse_err("{\"event_id\":\"e\",\"countries\":\"IQ\"}", "'countries': expected an array");
    s_parse_err("{\"event_id\":\"e\",\"countries\":[\"IQ\",3]}", "'countries[1]': expected a string");
    s_parse_err("{\"event_id\":\"e\",\"countries\":[\"IQ\",null]}", "got null");
    s_parse_err("{\"event_id\":\"e\",\"countries\":[[\"IQ\"]]}", "'countries[0]'");
    s_parse_err("{\"event_id\":\"e\",\"countries\":[\"IQ\"],\"countries\":[]}", "more than once");
    s_parse_err("{\"event_id\":\"e\",\"granularity\":\"TOTAL\"}", "'granularity'");
    s_parse_err("{\"event_id\":\"e\",\"granularity\":\"TOTAL\"}", "Granularity");
    s_parse_err("{\"event_id\":\"e\",\"killed_low\":-1}", "'killed_low'");
    s_parse_err("{\"event_id\":\"e\",\"killed_high\":1.5}", "'killed_high'");
    s_parse_err("{\"event_id\":\"e\",\"killed_high\":4294967296}", "out of range");
    s_parse_err("{\"event_id\":\"e\",\"incident\":7}", "'incident': expected a string");
    s_parse_err("{\"event_id\":\"e\",\"via\":[\"x\"]}", "'via'");
    s_parse_err("{\"event_id\":\"e\",\"parent\":\"p\"}", "unknown field 'parent'");
}

/* Every figure field, in field-number order, as the writer prints it. */
static const char s_fig_full[] =
    "{\"figure_id\":\"centcom-2024q1-fal\",\"revision\":1,\"retracted\":true,"
    "\"source\":\"CENTCOM\",\"via\":\"Kurdistan24\",\"source_url\":\"https://x.example/r\","
    "\"metric\":\"fighters_at_large\",\"scope\":[\"IQ\",\"SY\"],\"as_of\":\"2024-03-31\","
    "\"value\":2500,\"qualifier\":\"APPROX\",\"low\":2000,\"high\":3000,"
    "\"unit\":\"fighters\",\"reported_at\":1718000000000,\"notes\":\"approximately\\n2,500\"}";

static Optally__Figure *
s_fig_ok(const char *json)
{
    Optally__Figure *f = NULL;
    char err[200] = "";
    int rc = ot_json_to_figure(json, strlen(json), &f, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: rc %d: %s", json, rc, err);
    assert_non_null(f);
    return f;
}

static void
s_fig_err(const char *json, const char *word)
{
    Optally__Figure *f = (Optally__Figure *)&f;
    char err[200] = "";
    int rc = ot_json_to_figure(json, strlen(json), &f, err, sizeof err);
    if (rc != OT_EJSON)
        fail_msg("%s: rc %d, want OT_EJSON", json, rc);
    assert_null(f);
    if (strstr(err, word) == NULL)
        fail_msg("%s: message \"%s\" does not mention '%s'", json, err, word);
}

static void
t_figure_round_trip(void **state)
{
    (void)state;
    Optally__Figure *f = s_fig_ok(s_fig_full), *again, *back;
    uint8_t wire[512];
    char *out = NULL;

    assert_string_equal(f->figure_id, "centcom-2024q1-fal");
    assert_int_equal(f->revision, 1);
    assert_true(f->retracted);
    assert_string_equal(f->via, "Kurdistan24");
    assert_string_equal(f->metric, "fighters_at_large");
    assert_int_equal(f->n_scope, 2);
    assert_string_equal(f->scope[0], "IQ");
    assert_string_equal(f->scope[1], "SY");
    assert_string_equal(f->as_of, "2024-03-31");
    assert_int_equal(f->value, 2500);
    assert_int_equal(f->qualifier, OPTALLY__QUALIFIER__APPROX);
    assert_int_equal(f->low, 2000);
    assert_int_equal(f->high, 3000);
    assert_string_equal(f->unit, "fighters");
    assert_int_equal(f->reported_at, 1718000000000LL);
    assert_string_equal(f->notes, "approximately\n2,500");

    assert_int_equal(ot_json_from_figure(f, &out), 0);
    assert_string_equal(out, s_fig_full);
    again = s_fig_ok(out);
    assert_true(ot_figure_same_content(f, again));
    free(out);
    ot_json_figure_free(&again);

    size_t n = optally__figure__get_packed_size(f);
    assert_true(n < sizeof wire);
    assert_int_equal(optally__figure__pack(f, wire), n);
    back = optally__figure__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_true(ot_figure_same_content(f, back));
    optally__figure__free_unpacked(back, NULL);
    ot_json_figure_free(&f);
    assert_null(f);
    ot_json_figure_free(&f);    /* safe twice */
    ot_json_figure_free(NULL);

    /* absent fields are left out, figure_id never; numbers as strings;
     * the qualifier by number */
    f = s_fig_ok("{\"figure_id\":\"f\",\"value\":\"0\",\"qualifier\":0,\"scope\":[],"
                 "\"unit\":null}");
    assert_int_equal(ot_json_from_figure(f, &out), 0);
    assert_string_equal(out, "{\"figure_id\":\"f\"}");
    free(out);
    ot_json_figure_free(&f);
    f = s_fig_ok("{\"figure_id\":\"f\",\"value\":\"45000\",\"qualifier\":2}");
    assert_int_equal(f->value, 45000);
    assert_int_equal(f->qualifier, OPTALLY__QUALIFIER__AT_LEAST);
    assert_int_equal(ot_json_from_figure(f, &out), 0);
    assert_string_equal(out, "{\"figure_id\":\"f\",\"value\":45000,\"qualifier\":\"AT_LEAST\"}");
    free(out);
    ot_json_figure_free(&f);
    /* beyond 2^53 the writer uses a decimal string, which reads back */
    f = s_fig_ok("{\"figure_id\":\"f\",\"value\":\"9007199254740993\"}");
    assert_int_equal(f->value, 9007199254740993ULL);
    assert_int_equal(ot_json_from_figure(f, &out), 0);
    assert_string_equal(out, "{\"figure_id\":\"f\",\"value\":\"9007199254740993\"}");
    free(out);
    ot_json_figure_free(&f);
}

static void
t_figure_errors(void **state)
{
    (void)state;
    s_fig_err("{\"figure_id\":\"f\",\"metirc\":\"x\"}", "unknown field 'metirc'");
    s_fig_err("{\"figure_id\":\"f\",\"scope\":\"IQ\"}", "'scope': expected an array of strings");
    s_fig_err("{\"figure_id\":\"f\",\"scope\":[\"IQ\",{}]}", "'scope[1]': expected a string");
    s_fig_err("{\"figure_id\":\"f\",\"qualifier\":\"ABOUT\"}", "'qualifier'");
    s_fig_err("{\"figure_id\":\"f\",\"qualifier\":\"ABOUT\"}", "Qualifier");
    s_fig_err("{\"figure_id\":\"f\",\"value\":-1}", "'value': expected a non-negative integer");
    s_fig_err("{\"figure_id\":\"f\",\"value\":2.5}", "'value'");
    s_fig_err("{\"figure_id\":\"f\",\"value\":\"2,500\"}", "'value'");
    s_fig_err("{\"figure_id\":\"f\",\"low\":true}", "'low'");
    s_fig_err("{\"figure_id\":5}", "'figure_id': expected a string");
    s_fig_err("{\"figure_id\":\"f\",\"figure_id\":\"g\"}", "more than once");
    s_fig_err("{\"figure_id\":\"f\"} x", "text after the object");
    s_fig_err("[\"figure_id\"]", "expected a JSON object");
    s_fig_err("{\"figure_id\":\"f\\u0000\"}", "NUL");
    s_fig_err("", "empty input");
}

static bool
s_is_fig(const char *s)
{
    return ot_json_is_figure(s, strlen(s));
}

static void
t_is_figure(void **state)
{
    (void)state;
    static const char cut[] = "{\"event_id\":\"e\"}{\"figure_id\":\"f\"}";

    assert_true(s_is_fig(s_fig_full));
    assert_true(s_is_fig(" {\"value\":1,\"figure_id\":\"f\"} \n"));
    assert_true(s_is_fig("{\"figure_id\":null}"));              /* the member is there */
    assert_true(s_is_fig("{\"\\u0066igure_id\":\"f\"}"));        /* found by its unescaped name */
    assert_false(s_is_fig(s_full));
    assert_false(s_is_fig(s_agg));
    assert_false(s_is_fig("{\"event_id\":\"e\",\"notes\":\"figure_id\"}"));
    assert_false(s_is_fig("{\"event_id\":\"e\",\"notes\":\"\\u00e9\"}"));
    assert_false(s_is_fig("{\"seq\":1,\"figure\":{\"figure_id\":\"f\"}}"));   /* a record */
    assert_false(s_is_fig("{\"figure_id\":\"f\""));              /* not JSON */
    assert_false(s_is_fig("[\"figure_id\"]"));
    assert_false(s_is_fig(""));
    /* len bounds the read: the figure after the first object is not seen */
    assert_false(ot_json_is_figure(cut, 16));
    assert_true(ot_json_is_figure(cut + 16, sizeof cut - 17));
}

static Optally__LogRecord *
s_rec_fig_ok(const char *json)
{
    Optally__LogRecord *r = NULL;
    char err[300] = "";
    int rc = ot_json_to_logrec(json, strlen(json), &r, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: rc %d: %s", json, rc, err);
    assert_non_null(r);
    assert_null(r->event);
    assert_non_null(r->figure);
    return r;
}

#define S_FIG "{\"figure_id\":\"f-1\",\"source\":\"CENTCOM\",\"metric\":\"detainees_held\"," \
              "\"scope\":[\"SY\"],\"as_of\":\"2024-03-31\",\"value\":9000,\"qualifier\":\"AT_LEAST\"}"

static void
t_logrec_figure(void **state)
{
    (void)state;
    Optally__LogRecord rec = OPTALLY__LOG_RECORD__INIT, *back;
    Optally__Figure *f = s_fig_ok(S_FIG);
    ot_buf b = {NULL, 0, 0};
    static const uint8_t id[2] = {0x01, 0xff};

    rec.seq = 12;
    rec.received_at = 1718000000000LL;
    rec.producer.data = (uint8_t *)id;
    rec.producer.len = sizeof id;
    rec.figure = f;
    assert_int_equal(ot_json_from_logrec(&b, &rec), 0);
    assert_string_equal(b.data, "{\"seq\":12,\"received_at\":1718000000000,\"producer\":\"Af8=\","
                                "\"figure\":" S_FIG "}");
    back = s_rec_fig_ok(b.data);
    assert_int_equal(back->seq, 12);
    assert_int_equal(back->received_at, 1718000000000LL);
    assert_int_equal(back->producer.len, 2);
    assert_memory_equal(back->producer.data, id, 2);
    assert_true(ot_figure_same_content(back->figure, f));
    ot_json_logrec_free(&back);
    ot_buf_free(&b);

    /* a bare figure is a record of it alone; the member by unescaped name */
    back = s_rec_fig_ok(S_FIG);
    assert_int_equal(back->seq, 0);
    assert_true(ot_figure_same_content(back->figure, f));
    ot_json_logrec_free(&back);
    back = s_rec_fig_ok("{\"seq\":3,\"\\u0066igure\":" S_FIG "}");
    assert_int_equal(back->seq, 3);
    ot_json_logrec_free(&back);
    ot_json_figure_free(&f);

    /* refusals name the field inside the record */
    s_rec_err("{\"seq\":1,\"figure\":" S_FIG ",\"event\":" S_EV "}", "not both", NULL);
    s_rec_err("{\"seq\":1,\"figure\":null}", "'figure'", "expected an object");
    s_rec_err("{\"seq\":1,\"figure\":null,\"event\":null}", "'event'", "expected an object");
    s_rec_err("{\"seq\":1,\"figure\":[]}", "'figure'", "expected an object");
    s_rec_err("{\"seq\":1,\"figure\":{\"figure_id\":\"f\",\"value\":-3}}", "'figure.value'",
              "non-negative");
    s_rec_err("{\"seq\":1,\"figure\":{\"scope\":[1]}}", "'figure.scope[0]'", NULL);
    s_rec_err("{\"seq\":1,\"figure\":{},\"figur\":{}}", "'figur'", "event or figure");
    s_rec_err("{\"figure_id\":\"f\",\"vale\":1}", "unknown field 'vale'", NULL);
}

static void
t_figure_row(void **state)
{
    (void)state;
    Optally__Figure *f = s_fig_ok(s_fig_full);
    Optally__Figure empty = OPTALLY__FIGURE__INIT;
    ot_buf b = {NULL, 0, 0};

    assert_int_equal(ot_json_figure_row(&b, f), 0);
    assert_string_equal(b.data,
        "{\"metric\":\"fighters_at_large\",\"scope\":[\"IQ\",\"SY\"],\"as_of\":\"2024-03-31\","
        "\"value\":2500,\"qualifier\":\"APPROX\",\"low\":2000,\"high\":3000,"
        "\"unit\":\"fighters\",\"source\":\"CENTCOM\",\"figure_id\":\"centcom-2024q1-fal\"}");
    ot_json_figure_free(&f);

    /* every key always, zeros and empty strings included; appended */
    assert_int_equal(ot_json_figure_row(&b, &empty), 0);
    assert_non_null(strstr(b.data, "}{\"metric\":\"\",\"scope\":[],\"as_of\":\"\",\"value\":0,"
                                   "\"qualifier\":\"EXACT\",\"low\":0,\"high\":0,\"unit\":\"\","
                                   "\"source\":\"\",\"figure_id\":\"\"}"));

    /* terminal-safe text; a qualifier with no name as its number */
    f = s_fig_ok("{\"figure_id\":\"f\",\"unit\":\"a\\u001b[2Jb\",\"scope\":[\"I\\u202eQ\"],"
                 "\"qualifier\":9}");
    b.len = 0;
    assert_int_equal(ot_json_figure_row(&b, f), 0);
    assert_non_null(strstr(b.data, "\"unit\":\"a\\u001b[2Jb\""));
    assert_non_null(strstr(b.data, "\"scope\":[\"I\\u202eQ\"]"));
    assert_non_null(strstr(b.data, "\"qualifier\":9,"));
    ot_json_figure_free(&f);
    ot_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_round_trip),
        cmocka_unit_test(t_minimal_and_pack),
        cmocka_unit_test(t_errors_name_the_field),
        cmocka_unit_test(t_not_an_object),
        cmocka_unit_test(t_invalid_json),
        cmocka_unit_test(t_escaped_backslash),
        cmocka_unit_test(t_integers),
        cmocka_unit_test(t_enum),
        cmocka_unit_test(t_length_bounded),
        cmocka_unit_test(t_writer_escapes),
        cmocka_unit_test(t_buf),
        cmocka_unit_test(t_logrec_strict),
        cmocka_unit_test(t_logrec_read),
        cmocka_unit_test(t_logrec_write),
        cmocka_unit_test(t_json_text),
        cmocka_unit_test(t_event_new_fields),
        cmocka_unit_test(t_event_new_field_errors),
        cmocka_unit_test(t_figure_round_trip),
        cmocka_unit_test(t_figure_errors),
        cmocka_unit_test(t_is_figure),
        cmocka_unit_test(t_logrec_figure),
        cmocka_unit_test(t_figure_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
