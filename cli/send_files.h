/*
 * send_files: the one body of `optally produce` and `optally log import`:
 * the command line (the shared producer flags, --format, --quiet, FILEs),
 * the inputs read as events and figures (event_source.h), sent through the producer
 * library, and each answer told (outcome.h). The two commands differ only
 * in their name, --help, default --format and whether a FILE is required.
 */
#ifndef OT_CLI_SEND_FILES_H
#define OT_CLI_SEND_FILES_H

#include <stdbool.h>
#include <stdio.h>

/* --to's default when $OPTALLY_INGEST is unset or empty. */
#define OT_CLI_INGEST_DEFAULT "tcp://127.0.0.1:7710"

typedef struct ot_cli_send_spec {
    const char *prog;          /* "optally produce": the prefix of every message */
    const char *label;         /* of the progress line, e.g. "produce" */
    bool pb;                   /* the default --format is pb (else json) */
    bool need_files;           /* no FILE is a usage error ("-" reads stdin) */
    void (*help)(FILE *f);     /* prints --help */
} ot_cli_send_spec;

/* Run the command (argv[0] is its name). Returns the exit code: 0 every
 * event answered, none rejected; 1 some rejected or malformed, or a bad
 * record; 2 the consumer did not answer, a FILE cannot be opened or read,
 * or another runtime failure; 64 usage error. */
int
ot_cli_send_files(int argc, char **argv, const ot_cli_send_spec *spec);

#endif
