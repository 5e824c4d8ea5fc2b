/*
 * cmd_produce: `optally produce`, JSON Lines (or a log file) in, outcomes
 * out: its --help over send_files.c, which it shares with `optally log
 * import` (cmd_log.c), over producer/ot_producer.
 *
 * NAME
 *     optally produce - send operation events and figures to the consumer
 *
 * SYNOPSIS
 *     optally produce [--to ENDPOINT] [--format json|pb] [--batch N]
 *                     [--timeout-ms T] [--retries R] [--window W] [--quiet]
 *                     [--curve-secret FILE --server-key FILE] [FILE ...|-]
 *
 * DESCRIPTION
 *     Reads JSON Lines, one OperationEvent object per line, from each FILE
 *     in order (none, or "-", is standard input), sends them to the consumer
 *     in batches and waits until every batch is answered. Blank lines are
 *     skipped; a line that is not an event object is reported and counted as
 *     rejected, and the rest go on. A line may also be a LogRecord in its
 *     JSON form, {"seq":..,"received_at":..,"producer":..,"event":{...}}
 *     (what `optally log export --format json` writes): its event is sent,
 *     the rest is the old consumer's bookkeeping and is dropped.
 *     A line whose object has "figure_id" is a point-in-time figure
 *     ({"figure_id":..,"metric":..,"scope":[..],"as_of":..,"value":..}, see
 *     ot_json.h), sent beside the events in the same batches; a log record
 *     may hold a figure ("figure":{...}) as well. Figures are answered,
 *     told and counted exactly as events (same outcome lines, same words
 *     in the summary, same exit status).
 *
 *     --format pb reads length-delimited LogRecord messages (what `optally
 *     log export` writes; see ot_delim.h) and sends each record's event. A
 *     bad record (a truncated file, a length prefix or a record that does
 *     not decode) ends the reading of that FILE: it is reported as
 *         FILE: bad record at byte offset N: REASON
 *     and counted as rejected; the records before it are sent, the next
 *     FILE is read.
 *
 *     --to ENDPOINT    ZeroMQ endpoint of `optally consume`
 *                      (default $OPTALLY_INGEST, else tcp://127.0.0.1:7710)
 *     --format F       json (produce's default) or pb (log import's default)
 *     --batch N        events per batch, 1..10000 (default 1000)
 *     --timeout-ms T   wait for one answer, per attempt, 1..86400000
 *                      (default 5000)
 *     --retries R      resends of an unanswered batch, 0..1000 (default 3)
 *     --window W       batches in flight, 1..1024 (default 8)
 *     --curve-secret FILE, --server-key FILE   CURVE (producer_opts.h)
 *     --quiet, -q      no per-line messages and no progress
 *     --help, -h       this text
 *
 * OUTPUT
 *     stdout, exactly one line at the end:
 *         stored N, duplicate N, superseded N, stale N, rejected N
 *     ("rejected" includes malformed lines and bad records). stderr, unless
 *     --quiet:
 *         FILE:LINE: malformed: MESSAGE
 *         FILE:LINE: rejected: REASON_NAME: TEXT
 *         FILE: record N: rejected: REASON_NAME: TEXT        (pb)
 *         FILE: bad record at byte offset N: REASON          (pb, always)
 *     and, when stderr is a terminal and the input a regular file, a
 *     progress line (progress.h) redrawn in place and cleared at the end.
 *
 * EXIT STATUS
 *     0 every event answered, none rejected; 1 some rejected or malformed,
 *     or a bad record;
 *     2 the consumer did not answer (the summary then counts what was
 *     answered), a FILE cannot be opened or read (checked before anything
 *     is sent), or another runtime failure; 64 usage error.
 */
#include <stdio.h>

#include "cli.h"
#include "outcome.h"
#include "producer_opts.h"
#include "send_files.h"

static void
s_help(FILE *f)
{
    fputs(
"usage: optally produce [--to ENDPOINT] [--format json|pb] [--batch N]\n"
"                       [--timeout-ms T] [--retries R] [--window W] [--quiet]\n"
"                       [--curve-secret FILE --server-key FILE] [FILE ...|-]\n"
"\n"
"Send JSON Lines events (one object per line) to `optally consume` and report\n"
"each outcome. No FILE, or \"-\", reads standard input; blank lines are skipped.\n"
"A line whose object has \"figure_id\" is a point-in-time figure (metric,\n"
"scope, as_of, value, qualifier, ...), sent beside the events and answered and\n"
"counted exactly as they are.\n"
"A line may also be a log record as `optally log export --format json` writes\n"
"it ({\"seq\":..,\"event\":{...}} or \"figure\":{...}): its event or figure is\n"
"sent. A record is read as\n"
"strictly as an event: seq a non-negative integer, received_at an integer,\n"
"producer base64, nothing else, nothing after the object.\n"
"\n"
"  --to ENDPOINT      consumer endpoint (default $OPTALLY_INGEST, else\n"
"                     " OT_CLI_INGEST_DEFAULT ")\n"
"  --format F         json (default): JSON Lines; pb: length-delimited LogRecord\n"
"                     messages, as `optally log export` writes them. A bad\n"
"                     record ends the reading of its FILE, reported as\n"
"                     FILE: bad record at byte offset N: REASON\n"
"                     (the records before it are sent)\n"
OT_CLI_PRODUCER_HELP
"  -q, --quiet        no per-line messages, no progress\n"
"  -h, --help         show this help\n"
"\n"
OT_CLI_OUTCOME_HELP
"and on stderr FILE:LINE: malformed: MESSAGE / FILE:LINE: rejected: REASON: TEXT.\n"
"\n"
"Exit status: 0 all stored/duplicate/superseded/stale; 1 some rejected or\n"
"malformed, or a bad record; 2 consumer did not answer, a FILE cannot be\n"
"opened or read, or another runtime failure; 64 usage error.\n", f);
}

int
ot_cmd_produce(int argc, char **argv)
{
    static const ot_cli_send_spec spec = {
        .prog = "optally produce", .label = "produce", .pb = false, .need_files = false,
        .help = s_help,
    };
    return ot_cli_send_files(argc, argv, &spec);
}
