/*
 * otb_gen: make the benchmark's input, outside the timed part.
 *
 *   otb_gen --n N --ids random|ordered [--seed S] [--jsonl FILE] [--bin FILE]
 *           [--tallies FILE]
 *
 * N operation events of about 150 bytes (packed protobuf), in one fixed,
 * seeded order: about 96% new ids, 1% exact duplicates of an earlier id's
 * current revision, 3% revisions (revision + 1, new counts) of an earlier
 * id, the earlier id drawn uniformly from all ids so far. Ids are UUIDv4-
 * like (random) or UUIDv7-like (a millisecond clock and counter first, so
 * they sort in generation order). 20 countries x 60 months x 16 partner
 * forces give about 2,000 tally keys over the five views.
 *
 * Writes JSON Lines (for `optally produce`) and/or the binary events file
 * of otb_util.h (for the C drivers and baselines), each with FILE.meta:
 * the counts the consumer must report, e.g. "summary stored 960123,
 * duplicate 10012, superseded 29865, stale 0, rejected 0" as `optally
 * produce` prints it. --tallies writes the expected tallies, one
 * "key events operations killed detained wounded" line per key, sorted.
 *
 * Content is a pure function of (seed, id number, revision), so an exact
 * duplicate is byte-identical to its original, and only a revision count
 * per id is kept in memory (2 bytes per id).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optally.pb-c.h"
#include "otb_util.h"

#define S_NCOUNTRY 20
#define S_NPF      16
#define S_NMONTHS  60          /* 2019-01 .. 2023-12 */

static const char *s_countries[S_NCOUNTRY] = {
    "IQ", "SY", "AF", "YE", "SO", "ML", "NE", "BF", "NG", "LY",
    "SD", "SS", "CD", "CF", "MZ", "ET", "KE", "PK", "LB", "JO",
};
static const char *s_forces[S_NPF] = {
    "ISF", "SDF", "CTS", "KSF", "Peshmerga", "SNA", "FAMa", "FAN",
    "FDS", "NAF", "LNA", "SAF", "FARDC", "FACA", "FADM", "",
};
static const char *s_sources[3] = { "CENTCOM", "AFRICOM", "OIR-CJTF" };
static const char *s_types[5] = { "", "PARTNERED", "UNILATERAL", "AIRSTRIKE", "RAID" };

/* One event's fields, as text (for JSON and protobuf alike). */
typedef struct s_ev {
    char id[40];
    unsigned rev;
    const char *source;
    char url[80];
    char date[32];
    const char *country;
    const char *pf;
    int type;
    unsigned ops, killed, detained, wounded;
    long long reported_at;
    int month;                    /* 0..59, for tallies */
} s_ev;

static void
s_civil(int days, int *y, int *m, int *d)
{
    /* days since 1970-01-01 -> civil date (Howard Hinnant's algorithm) */
    int z = days + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int yy = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

static void
s_make(uint64_t seed, uint64_t idn, unsigned rev, int ordered, s_ev *e)
{
    uint64_t hid = otb_mix(seed ^ otb_mix(idn + 1));
    uint64_t hid2 = otb_mix(hid);
    uint64_t hc = otb_mix(hid ^ (0x5851f42d4c957f2dULL * (rev + 1)));
    if (ordered) {
        /* UUIDv7 layout: 48-bit unix ms, version 7 + 12-bit counter, variant + random */
        uint64_t ms = 1700000000000ULL + idn / 4096;
        snprintf(e->id, sizeof e->id, "%08" PRIx64 "-%04" PRIx64 "-7%03" PRIx64 "-%04" PRIx64
                 "-%012" PRIx64, ms >> 16, ms & 0xffff, idn % 4096,
                 (uint64_t)(0x8000 | (hid & 0x3fff)), (uint64_t)(hid2 & 0xffffffffffffULL));
    } else {
        snprintf(e->id, sizeof e->id, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64
                 "-%012" PRIx64, hid >> 32, (hid >> 16) & 0xffff, hid & 0xfff,
                 (uint64_t)(0x8000 | (hid2 >> 50)), (uint64_t)(hid2 & 0xffffffffffffULL));
    }
    e->rev = rev;
    e->source = s_sources[hid % 3];
    snprintf(e->url, sizeof e->url, "https://www.centcom.mil/MEDIA/PRESS-RELEASES/Article/%07u/",
             (unsigned)((hid >> 8) % 10000000));
    int day0 = 17897;                               /* 2019-01-01 */
    int day = day0 + (int)((hid >> 24) % 1826);     /* .. 2023-12-31 */
    int y, m, d;
    s_civil(day, &y, &m, &d);
    snprintf(e->date, sizeof e->date, "%04d-%02d-%02d", y, m, d);
    e->month = (y - 2019) * 12 + m - 1;
    e->country = s_countries[(hid >> 36) % S_NCOUNTRY];
    e->pf = s_forces[(hid >> 42) % S_NPF];
    e->type = 1 + (int)((hid >> 48) % 4);
    e->ops = 1 + (unsigned)(hc % 3);
    e->killed = (unsigned)((hc >> 8) % 6);
    e->detained = (unsigned)((hc >> 16) % 6);
    e->wounded = (unsigned)((hc >> 24) % 4);
    e->reported_at = 1700000000000LL + (long long)(idn % 100000000) * 7 + (long long)rev * 3600000;
}

static int
s_write_json(FILE *f, const s_ev *e)
{
    char rev[32] = "";
    if (e->rev)
        snprintf(rev, sizeof rev, "\"revision\":%u,", e->rev);
    return fprintf(f, "{\"event_id\":\"%s\",%s\"source\":\"%s\",\"source_url\":\"%s\","
                   "\"occurred_on\":\"%s\",\"country\":\"%s\",\"partner_force\":\"%s\","
                   "\"type\":\"%s\",\"operations\":%u,\"killed\":%u,\"detained\":%u,"
                   "\"wounded\":%u,\"reported_at\":%lld}\n", e->id, rev, e->source, e->url,
                   e->date, e->country, e->pf, s_types[e->type], e->ops, e->killed,
                   e->detained, e->wounded, e->reported_at) < 0 ? EIO : 0;
}

static size_t
s_write_bin(FILE *f, const s_ev *e)
{
    Optally__OperationEvent ev = OPTALLY__OPERATION_EVENT__INIT;
    ev.event_id = (char *)e->id;
    ev.revision = e->rev;
    ev.source = (char *)e->source;
    ev.source_url = (char *)e->url;
    ev.occurred_on = (char *)e->date;
    ev.country = (char *)e->country;
    ev.partner_force = (char *)e->pf;
    ev.type = (Optally__OperationType)e->type;
    ev.operations = e->ops;
    ev.killed = e->killed;
    ev.detained = e->detained;
    ev.wounded = e->wounded;
    ev.reported_at = e->reported_at;
    uint8_t buf[512];
    size_t n = optally__operation_event__pack(&ev, buf);
    uint8_t hdr[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
    if (fwrite(hdr, 1, 4, f) != 4 || fwrite(buf, 1, n, f) != n)
        return 0;
    return n;
}

/* ---- expected tallies: a small string map ---------------------------- */

typedef struct s_tally {
    char key[96];
    long long c[5];
} s_tally;

static s_tally *s_tab;
static size_t s_cap = 8192, s_used;

static void
s_tally_add(const char *key, const s_ev *e, int sign)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    size_t i = h & (s_cap - 1);
    while (s_tab[i].key[0] && strcmp(s_tab[i].key, key) != 0)
        i = (i + 1) & (s_cap - 1);
    if (!s_tab[i].key[0]) {
        snprintf(s_tab[i].key, sizeof s_tab[i].key, "%s", key);
        s_used++;
    }
    s_tab[i].c[0] += sign;
    s_tab[i].c[1] += sign * (long long)e->ops;
    s_tab[i].c[2] += sign * (long long)e->killed;
    s_tab[i].c[3] += sign * (long long)e->detained;
    s_tab[i].c[4] += sign * (long long)e->wounded;
}

static void
s_tally_event(const s_ev *e)
{
    char k[96];
    s_tally_add("total", e, 1);
    snprintf(k, sizeof k, "country/%s", e->country);
    s_tally_add(k, e, 1);
    snprintf(k, sizeof k, "country,quarter/%s/%.4s-Q%d", e->country, e->date,
             (atoi(e->date + 5) - 1) / 3 + 1);
    s_tally_add(k, e, 1);
    snprintf(k, sizeof k, "country,month/%s/%.7s", e->country, e->date);
    s_tally_add(k, e, 1);
    snprintf(k, sizeof k, "country,partner_force/%s/%s", e->country, e->pf);
    s_tally_add(k, e, 1);
}

static int
s_cmp_tally(const void *a, const void *b)
{
    return strcmp(((const s_tally *)a)->key, ((const s_tally *)b)->key);
}

static int
s_write_tallies(const char *path, uint64_t seed, const uint16_t *revs, uint64_t nids, int ordered)
{
    s_tab = calloc(s_cap, sizeof *s_tab);
    if (!s_tab)
        return ENOMEM;
    for (uint64_t i = 0; i < nids; i++) {
        s_ev e;
        s_make(seed, i, revs[i], ordered, &e);
        s_tally_event(&e);
    }
    size_t n = 0;
    for (size_t i = 0; i < s_cap; i++)
        if (s_tab[i].key[0])
            s_tab[n++] = s_tab[i];
    qsort(s_tab, n, sizeof *s_tab, s_cmp_tally);
    FILE *f = fopen(path, "w");
    if (!f)
        return errno;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %lld %lld %lld %lld %lld\n", s_tab[i].key, s_tab[i].c[0], s_tab[i].c[1],
                s_tab[i].c[2], s_tab[i].c[3], s_tab[i].c[4]);
    free(s_tab);
    return fclose(f) == 0 ? 0 : EIO;
}

static int
s_write_meta(const char *path, uint64_t n, uint64_t nids, uint64_t ndup, uint64_t nrev,
             int ordered, uint64_t seed, double avg)
{
    char p[4096];
    snprintf(p, sizeof p, "%s.meta", path);
    FILE *f = fopen(p, "w");
    if (!f)
        return errno;
    fprintf(f, "events %" PRIu64 "\ndistinct %" PRIu64 "\nstored %" PRIu64 "\nduplicate %" PRIu64
            "\nsuperseded %" PRIu64 "\nordered %d\nseed %" PRIu64 "\navg_bytes %.0f\n"
            "summary stored %" PRIu64 ", duplicate %" PRIu64 ", superseded %" PRIu64
            ", stale 0, rejected 0\n", n, nids, nids, ndup, nrev, ordered, seed, avg, nids,
            ndup, nrev);
    return fclose(f) == 0 ? 0 : EIO;
}

int
main(int argc, char **argv)
{
    static const char *const id_kinds[] = { "random", "ordered", NULL };
    uint64_t n = 0, seed = 42;
    int ordered = -1;
    const char *jpath = NULL, *bpath = NULL, *tpath = NULL;
    const otb_opt opts[] = {
        { "n", OTB_OPT_U64, &n, NULL },
        { "ids", OTB_OPT_CHOICE, &ordered, id_kinds },
        { "seed", OTB_OPT_U64, &seed, NULL },
        { "jsonl", OTB_OPT_STR, &jpath, NULL },
        { "bin", OTB_OPT_STR, &bpath, NULL },
        { "tallies", OTB_OPT_STR, &tpath, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || n == 0 || ordered < 0 || (!jpath && !bpath))
        return otb_usage("otb_gen --n N --ids random|ordered [--seed S] [--jsonl F] [--bin F] "
                         "[--tallies F]");
    uint16_t *revs = calloc(n, sizeof *revs);
    FILE *jf = jpath ? fopen(jpath, "w") : NULL;
    FILE *bf = bpath ? fopen(bpath, "w") : NULL;
    if (!revs || (jpath && !jf) || (bpath && !bf)) {
        perror("otb_gen");
        return 2;
    }
    static char jbuf[1 << 20], bbuf[1 << 20];
    if (jf)
        setvbuf(jf, jbuf, _IOFBF, sizeof jbuf);
    if (bf)
        setvbuf(bf, bbuf, _IOFBF, sizeof bbuf);
    uint64_t nids = 0, ndup = 0, nrev = 0, rng = otb_mix(seed * 31 + 7);
    double bytes = 0;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        rng = otb_mix(rng);
        unsigned kind = (unsigned)(rng % 10000);
        uint64_t idn;
        if (nids > 0 && kind < 100) {                 /* 1%: exact duplicate */
            idn = (rng >> 20) % nids;
            ndup++;
        } else if (nids > 0 && kind < 400 && revs[(rng >> 20) % nids] < 65535) {
            idn = (rng >> 20) % nids;                 /* 3%: a revision */
            revs[idn]++;
            nrev++;
        } else {
            idn = nids++;                             /* a new id */
        }
        s_ev e;
        s_make(seed, idn, revs[idn], ordered, &e);
        if (jf)
            rc = s_write_json(jf, &e);
        if (bf && rc == 0) {
            size_t b = s_write_bin(bf, &e);
            if (b == 0)
                rc = EIO;
            bytes += (double)b;
        }
    }
    if ((jf && fclose(jf) != 0) || (bf && fclose(bf) != 0))
        rc = EIO;
    double avg = bf ? bytes / (double)n : 0;
    if (rc == 0 && jpath)
        rc = s_write_meta(jpath, n, nids, ndup, nrev, ordered, seed, avg);
    if (rc == 0 && bpath)
        rc = s_write_meta(bpath, n, nids, ndup, nrev, ordered, seed, avg);
    if (rc == 0 && tpath)
        rc = s_write_tallies(tpath, seed, revs, nids, ordered);
    free(revs);
    if (rc) {
        fprintf(stderr, "otb_gen: %s\n", strerror(rc));
        return 2;
    }
    char size[64] = "";
    if (bpath)
        snprintf(size, sizeof size, ", %.0f bytes packed on average", avg);
    fprintf(stderr, "bench: generated %" PRIu64 " events (%s ids): %" PRIu64 " distinct, %"
            PRIu64 " duplicates, %" PRIu64 " revisions%s\n", n,
            ordered ? "time-ordered" : "random", nids, ndup, nrev, size);
    return 0;
}
