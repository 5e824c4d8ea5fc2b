#!/bin/sh
# The table, the ratios and the targets from the RESULT lines of one run
# (bench/run.sh writes them to bench/results/last.raw).
#   bench/report.sh FILE.raw [--scale]
set -eu
RAW=$1
MODE=${2:-}
awk -F'\t' -v mode="$MODE" '
function v(row, key) { return ((row, key) in R) ? R[row, key] : "" }
function has(row) { return (row in SEEN) }
function num(x) { return x == "" ? 0 : x + 0 }
function fmt_rate(x) { return x == "" ? "-" : sprintf("%.0f", x) }
function mb(kb) { return kb == "" ? "-" : sprintf("%.0f", kb / 1024) }
function per(x, n) { return (x == "" || n == 0) ? "-" : sprintf("%.0f", x / n) }
function ms(x) { return (x == "" || x < 0) ? "-" : sprintf("%.1f", x) }
function line(label, row,   n, cpu) {
    if (!has(row)) return
    n = num(v(row, "events"))
    cpu = v(row, "cpu_s")
    printf "%-44s %10s %7s %6s %7s %8s %8s %6s %6s %6s\n", label, fmt_rate(v(row, "evps")),
        cpu == "" ? "-" : sprintf("%.2f", cpu), (cpu == "" || n == 0) ? "-" : sprintf("%.2f", cpu * 1e6 / n),
        mb(v(row, "hwm_kb")), per(v(row, "wbytes"), n), per(v(row, "wchar"), n),
        ms(v(row, "p50_ms")), ms(v(row, "p99_ms")), ms(v(row, "p999_ms"))
}
function ratio(label, a, b,   x, y) {
    if (!has(a) || !has(b)) return
    x = num(v(a, "evps")); y = num(v(b, "evps"))
    if (y > 0) printf "  %-62s %7.2fx\n", label, x / y
}
function median3(prefix,   a, b, c, t) {
    a = num(v(prefix "-1", "startup_s")); b = num(v(prefix "-2", "startup_s")); c = num(v(prefix "-3", "startup_s"))
    if (a > b) { t = a; a = b; b = t }
    if (b > c) { t = b; b = c; c = t }
    if (a > b) { t = a; a = b; b = t }
    return b
}
function target(label, got, ok) { printf "  %-56s %-30s %s\n", label, got, ok }
$1 == "RESULT" {
    SEEN[$2] = 1
    for (i = 3; i <= NF; i++) { p = index($i, "="); R[$2, substr($i, 1, p - 1)] = substr($i, p + 1) }
}
END {
    n = num(v("e2e-random", "events"))
    printf "optally benchmark: %d events of ~%s bytes, 1%% duplicates, 3%% revisions; %s\n", n,
        "150", "durable (fsync at every commit) unless said otherwise"
    if (has("info"))
        printf "optally measured: %s; %s; %s CPUs; data on %s\n", v("info", "what"), v("info", "when"), v("info", "cpus"), v("info", "fs")
    printf "\n%-44s %10s %7s %6s %7s %8s %8s %6s %6s %6s\n", "", "events/s", "CPU s", "us/ev", "RSS MiB",
        "dirty/ev", "wrote/ev", "p50", "p99", "p999"
    line("optally e2e, random ids (produce, JSONL)", "e2e-random")
    line("optally e2e, time-ordered ids (produce)", "e2e-ordered")
    if (mode == "--scale") {
        print ""
    } else {
        line("optally, random ids, C driver (protobuf)", "e2e-driver")
        line("optally, C driver, 100/batch, 64 in flight", "e2e-driver100")
        line("optally ack latency, 50% of that max", "e2e-latency")
        line("SQLite WAL FULL, txn 1000, random ids", "sqlite-random")
        line("SQLite WAL FULL, txn 1000, ordered ids", "sqlite-ordered")
        line("Redis 7 Lua, pipeline 1000, AOF everysec", "redis-everysec")
        line("Redis 7 Lua, pipeline 1000, AOF always", "redis-always")
        line("limit: ZeroMQ tcp, 1 event per message", "zmq-1")
        line("limit: ZeroMQ tcp, 100 events per message", "zmq-100")
        line("limit: LMDB append, commit 1000", "lmdb-c1000")
        line("limit: LMDB append, commit 10000", "lmdb-c10000")
        line("limit: LMDB append, commit " v("lmdb-match", "commit") " (as optally)", "lmdb-match")
        line("LMDB append + B-tree ids, random, c1000", "lmdb-btree-random")
        line("LMDB append + B-tree ids, ordered, c1000", "lmdb-btree-ordered")
        print ""
    }
    print "Columns: CPU s = all processes of the row (consumer + producer; redis-server + client);"
    print "RSS = peak of the storing process (VmHWM / ru_maxrss); dirty/ev = /proc/PID/io write_bytes"
    print "(pages dirtied, incl. file-system metadata) / events; wrote/ev = bytes passed to write(2)"
    print "calls by the storing process (rchar/wchar: what LMDB, SQLite or the AOF actually wrote);"
    print "p50/p99/p999 = ack latency in ms, batch send -> IngestReply."

    printf "\noptally details\n"
    split("e2e-random e2e-ordered e2e-driver e2e-driver100 e2e-latency", rows, " ")
    for (k = 1; k <= 5; k++) {
        r = rows[k]
        if (!has(r) || num(v(r, "txns")) <= 0) continue
        printf "  %-14s %7d commits, %6.0f events per commit, store %5.0f MiB = %4.0f B/event, consumer CPU %.2f s, producer %.2f s\n",
            r, v(r, "txns"), num(v(r, "events")) / num(v(r, "txns")), num(v(r, "du")) / 1048576,
            num(v(r, "du")) / num(v(r, "events")), num(v(r, "cpu_consumer_s")), num(v(r, "cpu_feeder_s"))
    }
    if (has("e2e-latency"))
        printf "  latency run: paced at %s events/s in batches of %s; max %.1f ms; slowest acks (ms@events sent before): %s\n",
            v("e2e-latency", "rate"), v("e2e-latency", "batch"), num(v("e2e-latency", "max_ms")), v("e2e-latency", "worst")
    st = median3("startup")
    distinct = num(v("e2e-random", "distinct"))
    base_kb = num(v("e2e-random", "rss_anon_ready_kb"))
    mem_ingest = (num(v("e2e-random", "rss_anon_end_kb")) - base_kb) * 1024 / (distinct ? distinct : 1)
    mem_start = (num(v("startup-1", "rss_anon_kb")) - base_kb) * 1024 / (distinct ? distinct : 1)
    if (has("startup-1"))
        printf "  start-up over the %d-event store (%d distinct ids): %.2f s (median of 3), i.e. the log scanned at %.0f events/s\n",
            n, distinct, st, (st > 0 ? n / st : 0)
    if (has("idindex"))
        printf "  id index alone (%d ids): %.1f B/id held, %.1f B/id RSS; slowest reserve %.0f ms at %d ids (table doubling + rehash, on the writer thread)\n",
            v("idindex", "ids"), num(v("idindex", "bytes_per_id")), num(v("idindex", "rss_per_id")),
            num(v("idindex", "worst_reserve_ms")), v("idindex", "worst_at_ids")
    printf "  memory per distinct id: %.0f B (anonymous RSS growth while ingesting), %.0f B (after a start-up rebuild)\n",
        mem_ingest, mem_start

    if (mode != "--scale") {
        printf "\nratios (events/s)\n"
        ratio("optally e2e random / SQLite random", "e2e-random", "sqlite-random")
        ratio("optally e2e ordered / SQLite ordered", "e2e-ordered", "sqlite-ordered")
        ratio("optally e2e random / Redis AOF everysec", "e2e-random", "redis-everysec")
        ratio("optally e2e random / Redis AOF always", "e2e-random", "redis-always")
        ratio("optally e2e random / limit ZeroMQ 1 per message", "e2e-random", "zmq-1")
        ratio("optally e2e random / limit ZeroMQ 100 per message", "e2e-random", "zmq-100")
        ratio("optally e2e random / limit LMDB append, commit 1000", "e2e-random", "lmdb-c1000")
        ratio("optally e2e ordered / limit LMDB append, same commit size", "e2e-ordered", "lmdb-match")
        ratio("optally C driver / limit LMDB append, commit 1000", "e2e-driver", "lmdb-c1000")
        ratio("optally e2e random / LMDB + B-tree random ids (the naive store)", "e2e-random", "lmdb-btree-random")
        ratio("LMDB + B-tree ordered ids / LMDB + B-tree random ids", "lmdb-btree-ordered", "lmdb-btree-random")
        if (has("lmdb-btree-random") && has("lmdb-c1000"))
            printf "  %-62s %7.0f B vs %.0f B\n", "bytes written per event: B-tree random ids vs append only",
                num(v("lmdb-btree-random", "wchar")) / n, num(v("lmdb-c1000", "wchar")) / n
    }

    printf "\ntargets (issue 6)\n"
    e = num(v("e2e-random", "evps"))
    target("end to end, random ids >= 300,000 events/s", sprintf("%.0f", e), e >= 300000 ? "PASS" : "MISS")
    if (mode != "--scale") {
        o = num(v("e2e-ordered", "evps")); l = num(v("lmdb-match", "evps"))
        target("time-ordered >= 90% of raw LMDB at the same commit size", sprintf("%.0f%% (%.0f / %.0f)", l ? 100 * o / l : 0, o, l),
            (l && o >= 0.9 * l) ? "PASS" : "MISS")
        p = num(v("e2e-latency", "p99_ms"))
        target("ack p99 < 20 ms at half the max rate", sprintf("%.1f ms", p), has("e2e-latency") && p < 20 ? "PASS" : "MISS")
    }
    target("rebuild from the log >= 1M events/s", "n/a (issue 4)", "n/a")
    if (mode == "--scale")
        target("start-up over a 10M-event store < 10 s", sprintf("%.2f s over %d events", st, n), (n >= 10000000 && st < 10) ? "PASS" : (n < 10000000 ? "n/a" : "MISS"))
    else
        target("start-up over a 10M-event store < 10 s", sprintf("%.2f s over %d (10M: ~%.0f s)", st, n, st * 10000000 / (n ? n : 1)),
            "see make bench-10m")
    target("memory per distinct id <= 100 bytes", sprintf("%.0f B", mem_ingest), mem_ingest <= 100 ? "PASS" : "MISS")
}' "$RAW"
