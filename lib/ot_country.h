/*
 * ot_country: the embedded ISO 3166-1 alpha-2 table.
 * Only officially assigned codes are known; user-assigned codes (AA, QM-QZ,
 * XA-XZ, ZZ) and reserved ones are refused.
 */
#ifndef OT_COUNTRY_H
#define OT_COUNTRY_H

#include <stdbool.h>

/* True when cc is exactly two upper-case letters naming an assigned country. */
bool
ot_country_known(const char *cc);

/* English short name of a known code, or NULL. Static storage. */
const char *
ot_country_name(const char *cc);

#endif
