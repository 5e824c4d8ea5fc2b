/*
 * otb_idindex: the in-memory id index alone (store/ot_idindex), as the
 * consumer's writer uses it: reserve room for a transaction of --txn ids,
 * insert them, commit; N ids in all.
 *
 *   otb_idindex --n N [--txn T] [--name ROW]
 *
 * Reports the bytes the index holds per id at the end, the anonymous RSS
 * growth per id, the insert rate, and the slowest reserve call with the id
 * count it happened at: the table doubles (and rehashes every entry) when
 * it passes 3/4 full, on the writer thread, between two commits, so that
 * call is a pause of every ack in flight.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ot_idindex.h"
#include "otb_util.h"

int
main(int argc, char **argv)
{
    uint64_t n = 0, txn = 2500;
    const char *name = "idindex";
    const otb_opt opts[] = {
        { "n", OTB_OPT_U64, &n, NULL },
        { "txn", OTB_OPT_U64, &txn, NULL },
        { "name", OTB_OPT_STR, &name, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (otb_opts_parse(argc, argv, opts) != 0 || n == 0 || txn == 0)
        return otb_usage("otb_idindex --n N [--txn T] [--name ROW]");
    otb_proc p0, p1;
    otb_proc_read(0, &p0);
    ot_idindex *ix;
    if (ot_idindex_new(&ix) != 0)
        return 2;
    double t0 = otb_now(), worst = 0, worst_at = 0, grow_total = 0;
    for (uint64_t i = 1; i <= n; i += txn) {
        double r0 = otb_now();
        if (ot_idindex_reserve(ix, (size_t)txn) != 0)
            return 2;
        double r = otb_now() - r0;
        grow_total += r;
        if (r > worst) {
            worst = r;
            worst_at = (double)(i - 1);
        }
        for (uint64_t k = i; k < i + txn && k <= n; k++)
            ot_idindex_insert(ix, otb_mix(k), k);
        ot_idindex_commit(ix);
    }
    double secs = otb_now() - t0;
    otb_proc_read(0, &p1);
    otb_result(name, "ids=%" PRIu64 "\tsecs=%.3f\tidps=%.0f\tbytes_per_id=%.1f\trss_per_id=%.1f"
               "\tworst_reserve_ms=%.1f\tworst_at_ids=%.0f\tgrow_total_ms=%.1f\tok=1", n, secs,
               (double)n / secs, (double)ot_idindex_bytes(ix) / (double)n,
               (double)(p1.rss_anon_kb - p0.rss_anon_kb) * 1024.0 / (double)n, worst * 1e3,
               worst_at, grow_total * 1e3);
    ot_idindex_free(&ix);
    return 0;
}
