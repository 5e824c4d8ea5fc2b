/*
 * test_delim: the length-delimited stream reader and writer (lib/ot_delim).
 *  - varint lengths round-trip (1..10 bytes) and match protobuf's encoding;
 *  - framing: clean end, truncated varint, over-long varint, length past the
 *    end, length over the limit (refused before the bytes arrive), a
 *    zero-length record;
 *  - the reader over real files: many records across read blocks, a record
 *    larger than a block, a truncated file (earlier records intact, the bad
 *    offset exact), and every single-bit flip of a small file: never a
 *    crash, records before the flipped one always intact, the error (if
 *    any) never before the flipped record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_delim.h"
#include "ot_error.h"

static void
t_varint_round_trip(void **state)
{
    (void)state;
    static const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, (1u << 21) - 1,
                                     UINT32_MAX, (uint64_t)1 << 35, UINT64_MAX };
    static const size_t lens[] = { 1, 1, 1, 2, 2, 2, 3, 3, 5, 6, 10 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t buf[OT_DELIM_VARINT_MAX + 1];
        size_t n = ot_delim_put_len(buf, vals[i]);
        assert_int_equal(n, lens[i]);
        size_t hdr;
        uint64_t len;
        /* Framing needs the record too: give it "enough" bytes only when
         * the value is small; large values must be TOO_LONG. */
        ot_delim_status st = ot_delim_frame(buf, n, 1, SIZE_MAX, &hdr, &len);
        assert_int_equal(hdr, n);
        assert_true(len == vals[i]);
        assert_int_equal(st, vals[i] == 0 ? OT_DELIM_RECORD : OT_DELIM_CUT_RECORD);
    }
    uint8_t b[2];
    assert_int_equal(ot_delim_put_len(b, 300), 2);   /* protobuf's example: ac 02 */
    assert_int_equal(b[0], 0xac);
    assert_int_equal(b[1], 0x02);
}

static void
t_frame_cases(void **state)
{
    (void)state;
    size_t hdr = 99;
    uint64_t len = 99;
    /* nothing left */
    assert_int_equal(ot_delim_frame(NULL, 0, 1, 100, &hdr, &len), OT_DELIM_END);
    assert_int_equal(ot_delim_frame(NULL, 0, 0, 100, &hdr, &len), OT_DELIM_MORE);
    /* a truncated varint */
    const uint8_t cut[] = { 0x80, 0x80 };
    assert_int_equal(ot_delim_frame(cut, 2, 0, 100, &hdr, &len), OT_DELIM_MORE);
    assert_int_equal(ot_delim_frame(cut, 2, 1, 100, &hdr, &len), OT_DELIM_CUT_PREFIX);
    /* eleven continuation bytes, and a tenth byte over the 64th bit */
    uint8_t longv[12];
    memset(longv, 0x80, sizeof longv);
    assert_int_equal(ot_delim_frame(longv, sizeof longv, 0, 100, &hdr, &len), OT_DELIM_BAD_VARINT);
    uint8_t over[10];
    memset(over, 0xff, 9);
    over[9] = 0x02;
    assert_int_equal(ot_delim_frame(over, 10, 1, SIZE_MAX, &hdr, &len), OT_DELIM_BAD_VARINT);
    /* length past the end */
    const uint8_t past[] = { 0x05, 'a', 'b' };
    assert_int_equal(ot_delim_frame(past, 3, 0, 100, &hdr, &len), OT_DELIM_MORE);
    assert_int_equal(ot_delim_frame(past, 3, 1, 100, &hdr, &len), OT_DELIM_CUT_RECORD);
    assert_int_equal(len, 5);
    /* over the limit: refused at once, before the bytes could arrive */
    const uint8_t big[] = { 0x80, 0x80, 0x80, 0x01 };   /* 2 MiB */
    assert_int_equal(ot_delim_frame(big, 4, 0, 1 << 20, &hdr, &len), OT_DELIM_TOO_LONG);
    assert_int_equal(len, 1u << 21);
    /* a zero-length record, then one of 2 bytes */
    const uint8_t two[] = { 0x00, 0x02, 'h', 'i' };
    assert_int_equal(ot_delim_frame(two, 4, 1, 100, &hdr, &len), OT_DELIM_RECORD);
    assert_int_equal(hdr, 1);
    assert_int_equal(len, 0);
    assert_int_equal(ot_delim_frame(two + 1, 3, 0, 100, &hdr, &len), OT_DELIM_RECORD);
    assert_int_equal(hdr, 1);
    assert_int_equal(len, 2);
    /* a non-minimal varint is still a varint (protobuf readers accept it) */
    const uint8_t nonmin[] = { 0x81, 0x00, 'x' };
    assert_int_equal(ot_delim_frame(nonmin, 3, 1, 100, &hdr, &len), OT_DELIM_RECORD);
    assert_int_equal(hdr, 2);
    assert_int_equal(len, 1);
}

/* ---- over files ---------------------------------------------------------- */

typedef struct s_file {
    uint8_t *data;
    size_t len, cap;
    size_t off[4096];       /* offset of each record's prefix */
    size_t rlen[4096];
    size_t hdr[4096];       /* bytes of its length prefix */
    size_t n;
} s_file;

static void
s_add(s_file *f, size_t len, unsigned seed)
{
    if (f->len + len + OT_DELIM_VARINT_MAX > f->cap) {
        f->cap = (f->len + len + OT_DELIM_VARINT_MAX) * 2;
        f->data = realloc(f->data, f->cap);
        assert_non_null(f->data);
    }
    f->off[f->n] = f->len;
    f->rlen[f->n] = len;
    f->hdr[f->n] = ot_delim_put_len(f->data + f->len, len);
    f->len += f->hdr[f->n];
    f->n++;
    for (size_t i = 0; i < len; i++)
        f->data[f->len++] = (uint8_t)(seed * 31 + i * 7);
}

/* Write bytes to a temporary file and open it for reading. */
static int
s_tmpfd(const uint8_t *data, size_t len)
{
    char path[] = "/tmp/ot-test-delim.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Read the stream. With check, every record read must be f's record of
 * the same index: same offset, length and bytes (f->data holds them).
 * Returns the reader's final code; OUT: *good (records read), *bad_off. */
static int
s_read_all(const uint8_t *data, size_t len, const s_file *f, size_t max, size_t *good,
           uint64_t *bad_off, int check)
{
    int fd = s_tmpfd(data, len);
    ot_delim_reader *r;
    assert_int_equal(ot_delim_reader_new(fd, max, &r), 0);
    *good = 0;
    int rc;
    const uint8_t *rec;
    size_t rlen;
    uint64_t off;
    while ((rc = ot_delim_next(r, &rec, &rlen, &off)) == 0) {
        if (check) {
            size_t i = *good;
            assert_true(i < f->n);
            assert_int_equal(off, f->off[i]);
            assert_int_equal(rlen, f->rlen[i]);
            assert_memory_equal(rec, f->data + f->off[i] + f->hdr[i], rlen);
        }
        (*good)++;
    }
    *bad_off = off;
    assert_int_equal(ot_delim_reader_offset(r), rc == OT_ENOTFOUND ? len : off);
    /* sticky: the same answer again */
    assert_int_equal(ot_delim_next(r, &rec, &rlen, &off), rc);
    ot_delim_reader_free(&r);
    assert_null(r);
    ot_delim_reader_free(&r);   /* safe twice */
    close(fd);
    return rc;
}

static void
t_reader_many_and_large(void **state)
{
    (void)state;
    s_file *f = calloc(1, sizeof *f);
    for (unsigned i = 0; i < 3000; i++)
        s_add(f, i % 7 == 0 ? 0 : (i * 37) % 500, i);
    s_add(f, 300 * 1024, 7);          /* larger than one read block */
    s_add(f, 5, 8);
    size_t good;
    uint64_t bad;
    assert_int_equal(s_read_all(f->data, f->len, f, 0, &good, &bad, 1), OT_ENOTFOUND);
    assert_int_equal(good, f->n);
    assert_int_equal(bad, f->len);    /* the end offset */
    /* the same with a limit below the large record: refused at its offset */
    assert_int_equal(s_read_all(f->data, f->len, f, 200 * 1024, &good, &bad, 1), OT_EDECODE);
    assert_int_equal(good, f->n - 2);
    assert_int_equal(bad, f->off[f->n - 2]);
    free(f->data);
    free(f);
}

static void
t_reader_truncated(void **state)
{
    (void)state;
    s_file *f = calloc(1, sizeof *f);
    for (unsigned i = 0; i < 50; i++)
        s_add(f, 100 + i, i);
    for (size_t cut = 1; cut < f->len; cut += 17) {
        size_t good;
        uint64_t bad;
        int rc = s_read_all(f->data, cut, f, 0, &good, &bad, 1);
        /* the records wholly before the cut are read, the first one cut is
         * reported at its own offset */
        size_t whole = 0;
        while (whole < f->n && f->off[whole] + f->hdr[whole] + f->rlen[whole] <= cut)
            whole++;
        assert_int_equal(good, whole);
        if (whole < f->n && f->off[whole] < cut) {
            assert_int_equal(rc, OT_EDECODE);
            assert_int_equal(bad, f->off[whole]);
        } else {
            assert_int_equal(rc, OT_ENOTFOUND);
        }
    }
    /* a file of one truncated varint */
    const uint8_t v[] = { 0xff };
    size_t good;
    uint64_t bad;
    int fd = s_tmpfd(v, 1);
    ot_delim_reader *r;
    assert_int_equal(ot_delim_reader_new(fd, 0, &r), 0);
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(ot_delim_next(r, &rec, &rlen, &bad), OT_EDECODE);
    assert_int_equal(bad, 0);
    assert_non_null(strstr(ot_delim_reader_why(r), "length prefix"));
    ot_delim_reader_free(&r);
    close(fd);
    /* an empty file is a clean, empty stream */
    assert_int_equal(s_read_all(v, 0, f, 0, &good, &bad, 0), OT_ENOTFOUND);
    assert_int_equal(good, 0);
    free(f->data);
    free(f);
}

static void
t_reader_bit_flips(void **state)
{
    (void)state;
    s_file *f = calloc(1, sizeof *f);
    for (unsigned i = 0; i < 40; i++)
        s_add(f, i % 9 == 0 ? 0 : 20 + (i * 13) % 150, i);
    uint8_t *copy = malloc(f->len);
    for (size_t byte = 0; byte < f->len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, f->data, f->len);
            copy[byte] ^= (uint8_t)(1u << bit);
            size_t rec = 0;   /* the record holding the flipped byte */
            while (rec + 1 < f->n && f->off[rec + 1] <= byte)
                rec++;
            size_t good;
            uint64_t bad;
            int rc = s_read_all(copy, f->len, f, 4096, &good, &bad, 0);
            assert_true(rc == OT_ENOTFOUND || rc == OT_EDECODE);
            /* everything before the flipped record is read as it was */
            assert_true(good >= rec);
            if (rc == OT_EDECODE)
                assert_true(bad >= f->off[rec]);
        }
    }
    free(copy);
    free(f->data);
    free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_varint_round_trip),
        cmocka_unit_test(t_frame_cases),
        cmocka_unit_test(t_reader_many_and_large),
        cmocka_unit_test(t_reader_truncated),
        cmocka_unit_test(t_reader_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
