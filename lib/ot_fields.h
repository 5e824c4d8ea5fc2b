/*
 * ot_fields: the field numbers of proto/optally.proto that code reads or
 * writes on the wire by hand (ot_wire's walker, the event view, the
 * producer's batch builder, the store's record scans), one named constant
 * per field, so no number is written twice.
 *
 * Invariant: each constant equals the `id` of its field in the protobuf-c
 * descriptor of its message; tests/test_wire.c checks every one of them
 * (and that OT_F_EVENT__MAX bounds every field of OperationEvent), so a
 * renumbered or added proto field fails a unit test, not a store.
 */
#ifndef OT_FIELDS_H
#define OT_FIELDS_H

/* Wire types (protobuf encoding): what follows a tag. Groups (3, 4) are not
 * used by this schema and are refused by the walker. */
enum {
    OT_WIRE_VARINT = 0,
    OT_WIRE_I64 = 1,
    OT_WIRE_LEN = 2,     /* length-delimited: strings, bytes, messages */
    OT_WIRE_I32 = 5,
};

/* The tag of a field on the wire: (field number << 3) | wire type. Small
 * enough for one byte when field < 16. */
#define OT_WIRE_TAG(field, wt) ((uint32_t)(field) << 3 | (uint32_t)(wt))

/* OperationEvent: every field (the event view, ot_event.h, holds them all). */
enum {
    OT_F_EVENT_ID = 1,
    OT_F_EVENT_REVISION = 2,
    OT_F_EVENT_RETRACTED = 3,
    OT_F_EVENT_SOURCE = 4,
    OT_F_EVENT_SOURCE_URL = 5,
    OT_F_EVENT_OCCURRED_ON = 6,
    OT_F_EVENT_OCCURRED_UNTIL = 7,
    OT_F_EVENT_COUNTRY = 8,
    OT_F_EVENT_ADMIN1 = 9,
    OT_F_EVENT_PARTNER_FORCE = 10,
    OT_F_EVENT_OPERATIONS = 11,
    OT_F_EVENT_KILLED = 12,
    OT_F_EVENT_DETAINED = 13,
    OT_F_EVENT_WOUNDED = 14,
    OT_F_EVENT_REPORTED_AT = 15,
    OT_F_EVENT_NOTES = 16,
    OT_F_EVENT_TYPE = 17,
    OT_F_EVENT_GRANULARITY = 18,
    OT_F_EVENT_PARENT_ID = 19,
    OT_F_EVENT_COUNTRIES = 20,    /* repeated: the event view keeps them apart */
    OT_F_EVENT_KILLED_LOW = 21,
    OT_F_EVENT_KILLED_HIGH = 22,
    OT_F_EVENT_INCIDENT = 23,
    OT_F_EVENT_VIA = 24,
    OT_F_EVENT__MAX = 24          /* the highest field number of OperationEvent */
};

/* Figure: every field. */
enum {
    OT_F_FIGURE_ID = 1,
    OT_F_FIGURE_REVISION = 2,
    OT_F_FIGURE_RETRACTED = 3,
    OT_F_FIGURE_SOURCE = 4,
    OT_F_FIGURE_VIA = 5,
    OT_F_FIGURE_SOURCE_URL = 6,
    OT_F_FIGURE_METRIC = 7,
    OT_F_FIGURE_SCOPE = 8,        /* repeated */
    OT_F_FIGURE_AS_OF = 9,
    OT_F_FIGURE_VALUE = 10,
    OT_F_FIGURE_QUALIFIER = 11,
    OT_F_FIGURE_LOW = 12,
    OT_F_FIGURE_HIGH = 13,
    OT_F_FIGURE_UNIT = 14,
    OT_F_FIGURE_REPORTED_AT = 15,
    OT_F_FIGURE_NOTES = 16,
    OT_F_FIGURE__MAX = 16         /* the highest field number of Figure */
};

/* EventBatch. */
enum {
    OT_F_BATCH_EVENTS = 1,
    OT_F_BATCH_ID = 2,
    OT_F_BATCH_FIGURES = 3,
};

/* LogRecord (the log's value): one of event and figure is set. */
enum {
    OT_F_LOGRECORD_SEQ = 1,
    OT_F_LOGRECORD_RECEIVED_AT = 2,
    OT_F_LOGRECORD_PRODUCER = 3,
    OT_F_LOGRECORD_EVENT = 4,
    OT_F_LOGRECORD_FIGURE = 5,
};

#endif
