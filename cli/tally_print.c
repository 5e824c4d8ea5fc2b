/*
 * tally_print: a tally row in query's formats (contract in tally_print.h).
 */
#include "tally_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot_view.h"

#define S_CELL_WIDTH 16   /* bytes a key column takes at least */

/* True when s (n bytes) may be printed as it is (the rules in the
 * header). */
static bool
s_cell_plain(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '-') || s[0] == '"' || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n;) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        if (k == 0 || ot_text_is_control(ot_text_code_point(s + i, k)))
            return false;
        i += k;
    }
    return true;
}

int
ot_cli_cell_escape(ot_buf *b, const char *s, size_t k)
{
    unsigned char c = (unsigned char)s[0];
    uint32_t cp = k ? ot_text_code_point(s, k) : c;
    if (c == '"' || c == '\\')
        return ot_buf_printf(b, "\\%c", c);
    if (c == '\n' || c == '\r' || c == '\t')
        return ot_buf_printf(b, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
    if (k == 0 || (cp < 0x80 && ot_text_is_control(cp)))
        return ot_buf_printf(b, "\\x%02x", c);
    if (ot_text_is_control(cp))
        return ot_buf_printf(b, "\\u%04x", (unsigned)cp);
    return ot_buf_append(b, s, k);
}

int
ot_cli_cell(ot_buf *b, const char *s, size_t n)
{
    if (s_cell_plain(s, n))
        return ot_buf_append(b, s, n);
    size_t len0 = b->len;
    int rc = ot_buf_append(b, "\"", 1);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        rc = ot_cli_cell_escape(b, s + i, k);
        i += k ? k : 1;
    }
    if (rc == 0)
        rc = ot_buf_append(b, "\"", 1);
    if (rc != 0 && b->data) {
        b->len = len0;
        b->data[len0] = '\0';
    }
    return rc;
}

void
ot_cli_tally_table_header(FILE *f, bool first, const char *view, const char *const *fields,
                          size_t n)
{
    fprintf(f, "%s%s\n", first ? "" : "\n", view);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%-16s", fields[i]);
    for (int i = 0; i < OT_COUNTS_N; i++)
        fprintf(f, "%12s", ot_counts_names[i]);
    fputc('\n', f);
}

int
ot_cli_tally_table_row(FILE *f, ot_buf *line, const char *const *values, size_t n,
                       const ot_counts *c)
{
    int64_t v[OT_COUNTS_N];
    int rc = 0;
    ot_counts_to_array(c, v);
    line->len = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t start = line->len;
        rc = ot_cli_cell(line, values[i], strlen(values[i]));
        while (rc == 0 && line->len - start < S_CELL_WIDTH)
            rc = ot_buf_append(line, " ", 1);
    }
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(line, "%12" PRId64, v[i]);
    if (rc == 0)
        rc = ot_buf_append(line, "\n", 1);
    if (rc == 0)
        fwrite(line->data, 1, line->len, f);
    return rc;
}

int
ot_cli_key_json(ot_buf *b, const char *view, const char *const *fields,
                const char *const *values, size_t n)
{
    int rc = ot_buf_append(b, "{\"view\":", 8);
    if (rc == 0)
        rc = ot_buf_json_string(b, view, strlen(view));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = ot_buf_append(b, ",", 1);
        if (rc == 0)
            rc = ot_buf_json_string(b, fields[i], strlen(fields[i]));
        if (rc == 0)
            rc = ot_buf_append(b, ":", 1);
        if (rc == 0)
            rc = ot_buf_json_text(b, values[i], strlen(values[i]));
    }
    return rc;
}

int
ot_cli_tally_json(ot_buf *b, const char *view, const char *const *fields,
                  const char *const *values, size_t n, const ot_counts *c)
{
    int64_t v[OT_COUNTS_N];
    ot_counts_to_array(c, v);
    int rc = ot_cli_key_json(b, view, fields, values, n);
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, ",\"%s\":%" PRId64, ot_counts_names[i], v[i]);
    return rc;
}

int
ot_cli_counts_json(ot_buf *b, const ot_counts *c)
{
    int64_t v[OT_COUNTS_N];
    ot_counts_to_array(c, v);
    int rc = 0;
    for (int i = 0; rc == 0 && i < OT_COUNTS_N; i++)
        rc = ot_buf_printf(b, "%c\"%s\":%" PRId64, i ? ',' : '{', ot_counts_names[i], v[i]);
    return rc == 0 ? ot_buf_append(b, "}", 1) : rc;
}

int
ot_cli_csv_field(ot_buf *b, const char *s)
{
    ot_buf cell = {NULL, 0, 0};
    int rc = 0;
    if (s[0] != '\0' && strchr("=+-@\t\r'", s[0]))
        rc = ot_buf_append(&cell, "'", 1);
    for (size_t i = 0, n = strlen(s); rc == 0 && i < n;) {
        size_t k = ot_utf8_seq_len(s + i, n - i);
        bool keep = k > 0 && (s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
                              !ot_text_is_control(ot_text_code_point(s + i, k)));
        rc = keep ? ot_buf_append(&cell, s + i, k) : ot_cli_cell_escape(&cell, s + i, k);
        i += k ? k : 1;
    }
    if (rc == 0 && cell.len > 0 && strpbrk(cell.data, ",;\"\t\n\r")) {
        rc = ot_buf_append(b, "\"", 1);
        for (size_t i = 0; rc == 0 && i < cell.len; i++)
            rc = cell.data[i] == '"' ? ot_buf_append(b, "\"\"", 2) : ot_buf_append(b, cell.data + i, 1);
        if (rc == 0)
            rc = ot_buf_append(b, "\"", 1);
    } else if (rc == 0) {
        rc = ot_buf_append(b, cell.data ? cell.data : "", cell.len);
    }
    ot_buf_free(&cell);
    return rc;
}

const char *
ot_cli_view_names(void)
{
    static char names[512];
    if (names[0] == '\0') {
        size_t len = 0;
        for (size_t i = 0; i < ot_view_count() && len < sizeof names; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, " %s", ot_view_at(i)->name);
    }
    return names;
}

const char *
ot_cli_time_text(int64_t ms, char *buf, size_t cap)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

/* n decimal digits at s as a number in [lo, hi]. Returns 0 or EINVAL. */
static int
s_digits(const char *s, int n, int lo, int hi, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return EINVAL;
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's
 * days_from_civil). */
static int64_t
s_days(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int
ot_cli_time_parse(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n > 0 && n <= 18 && strspn(s, "0123456789") == n) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, frac = 0, off = 0;
    if (n < 20 || s[4] != '-' || s[7] != '-' || !strchr("Tt ", s[10]) || s[13] != ':' ||
        s[16] != ':' || s_digits(s, 4, 0, 9999, &y) || s_digits(s + 5, 2, 1, 12, &mo) ||
        s_digits(s + 8, 2, 1, mdays[mo - 1], &d) || s_digits(s + 11, 2, 0, 23, &h) ||
        s_digits(s + 14, 2, 0, 59, &mi) || s_digits(s + 17, 2, 0, 60, &sec))
        return EINVAL;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        int k = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 3)
                frac = frac * 10 + (*p - '0');
        if (k == 0)
            return EINVAL;
        for (; k < 3; k++)
            frac *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (s_digits(p + 1, 2, 0, 23, &oh) || s_digits(p + 4, 2, 0, 59, &om))
            return EINVAL;
        off = (*p == '+' ? 1 : -1) * (oh * 60 + om);
    } else {
        return EINVAL;
    }
    int64_t secs = s_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec == 60 ? 59 : sec) -
                   (int64_t)off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
