/*
 * tally_print: a tally as `optally query` prints it, shared by query and
 * subscribe so that their rows stay identical, and the one way every table
 * of the CLI (query, rejects, subscribe) prints a text value:
 *
 *   table:  VIEW                        (a blank line before all but the first)
 *           field...(%-16s) events operations killed detained wounded
 *                           killed_low killed_high (%12s)
 *           cell...(%-16s, ot_cli_cell) counters (%12)
 *   json:   {"view":V,"FIELD":"VALUE",...,"events":N,...   (the caller closes it)
 *   COUNTS: {"events":N,"operations":N,...,"killed_high":N}, the counter
 *           object of a row (reconcile, disagreements: ot_cli_counts_json)
 *   csv:    one cell per value (ot_cli_csv_field)
 *
 * A cell (ot_cli_cell) shows a value so that it can neither forge a row nor
 * drive the terminal, and two different values never look the same:
 *  - a value of printable text is printed as it is;
 *  - a value that is empty, is "-" (tables print "-" for "none"), starts
 *    with a double quote, starts or ends with a space, or holds a control
 *    character (C0, DEL, C1, line separators, bidi controls:
 *    ot_text_is_control) or a byte that is not UTF-8, is printed in double
 *    quotes with C escapes: \" \\ \n \r \t, \xHH for other bytes below
 *    U+0080 and for bytes that are not UTF-8, \uHHHH for other controls.
 *    So "" is the empty value and "-" the value "-".
 * The JSON of a row keeps every value exact (ot_buf_json_text: controls as
 * \u escapes).
 */
#ifndef OT_CLI_TALLY_PRINT_H
#define OT_CLI_TALLY_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ot_event.h"
#include "ot_json.h"

/* How --help states the cell rules above, for the commands that print
 * tables. */
#define OT_CLI_CELL_HELP \
"Table cells: a value that is empty, is \"-\", starts with a double quote,\n" \
"starts or ends with a space, or holds a control character or bytes that\n" \
"are not UTF-8 is shown in double quotes with C escapes (\\n, \\t, \\\\, \\\",\n" \
"\\xHH, \\uHHHH): \"\" is an empty value, \"-\" the value -. JSON keeps every\n" \
"value exact.\n"

/* Append the n bytes at s to b as one table cell (the rules above).
 * Returns 0 or ENOMEM (b then as it was). */
int
ot_cli_cell(ot_buf *b, const char *s, size_t n);

/* One character of a quoted cell, appended to b: k bytes at s, a UTF-8
 * sequence (ot_utf8_seq_len), or k 0 for one byte that is not UTF-8. As it
 * is, or escaped as the rules above say. Returns 0 or ENOMEM. */
int
ot_cli_cell_escape(ot_buf *b, const char *s, size_t k);

/* The header of a view's table on f. */
void
ot_cli_tally_table_header(FILE *f, bool first, const char *view, const char *const *fields,
                          size_t n);

/* One table row on f: the n key values as cells, then the counters. line
 * is the caller's scratch buffer (its content is replaced). Returns 0 or
 * ENOMEM (nothing printed). */
int
ot_cli_tally_table_row(FILE *f, ot_buf *line, const char *const *values, size_t n,
                       const ot_counts *c);

/* A row as a JSON object without its closing brace, appended to b.
 * Returns 0 or ENOMEM. */
int
ot_cli_tally_json(ot_buf *b, const char *view, const char *const *fields,
                  const char *const *values, size_t n, const ot_counts *c);

/* The start of a row's JSON object, {"view":V,"FIELD":"VALUE",... (no
 * counters, no closing brace), appended to b. Returns 0 or ENOMEM. */
int
ot_cli_key_json(ot_buf *b, const char *view, const char *const *fields,
                const char *const *values, size_t n);

/* The counter object {"events":N,...,"killed_high":N} of c, appended to b.
 * Returns 0 or ENOMEM. */
int
ot_cli_counts_json(ot_buf *b, const ot_counts *c);

/* A text cell of a CSV row (s NUL-terminated), appended to b:
 *  - control characters other than tab and line breaks, and bytes that are
 *    not UTF-8, as in a table cell (\xHH, \uHHHH: ot_cli_cell_escape):
 *    nothing a terminal acts on reaches the file;
 *  - a cell that starts with = + - @, a tab or a carriage return (what a
 *    spreadsheet evaluates as a formula, the OWASP CSV injection rule), or
 *    with ' (so that the mark is never ambiguous), gets a leading ';
 *  - then RFC 4180: the cell is quoted, its quotes doubled, when it holds
 *    a comma, a semicolon (a separator in some locales), a double quote, a
 *    tab or a line break.
 * Returns 0 or ENOMEM. */
int
ot_cli_csv_field(ot_buf *b, const char *s);

/* How --help states the CSV cell rules above. */
#define OT_CLI_CSV_HELP \
"CSV cells: RFC 4180 quoting (a cell holding a comma, semicolon, quote, tab or\n" \
"line break is quoted, its quotes doubled); a cell starting with = + - @ ' or\n" \
"a tab or carriage return gets a leading ' so a spreadsheet never evaluates\n" \
"it; other control characters are escaped as in tables. Exact values: json.\n"

/* A time the CLI shows (received_at of the log): unix ms as RFC 3339 in
 * UTC with milliseconds, "2024-05-01T12:00:00.123Z", in buf (cap >= 32).
 * 0 (none) gives "-". Returns buf. */
const char *
ot_cli_time_text(int64_t ms, char *buf, size_t cap);

/* A time given on the command line (--as-of-time): unix ms (digits only),
 * or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)" (t or a space for
 * T, z for Z). OUT: *ms. Returns 0 or EINVAL (*ms unchanged). */
int
ot_cli_time_parse(const char *s, int64_t *ms);

/* The views this build knows, " total country ...", for --help and usage
 * errors. Static storage. */
const char *
ot_cli_view_names(void);

#endif
