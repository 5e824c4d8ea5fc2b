/*
 * tally_print: a tally row in query's formats (contract in tally_print.h).
 */
#include "tally_print.h"

#include <inttypes.h>
#include <string.h>

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
