#!/usr/bin/python3
"""Seed the fuzz corpus from the bundled demo data.

corpus/ingest/: EventBatch messages (one per demo line, and a few
multi-event batches); corpus/json/: the demo's JSON lines, one per file.
Run from the repository root after a build (needs build*/tests/py/optally_pb2):
    /usr/bin/python3 tests/fuzz/make_corpus.py build/tests/py
"""
import json
import os
import sys

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "build/tests/py")
import optally_pb2 as pb  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))
lines = []
for name in ("centcom-q1-2024.jsonl", "centcom-q1-2024-updates.jsonl"):
    with open(os.path.join(ROOT, "..", "..", "data", name), encoding="utf-8") as f:
        lines += [l.rstrip("\n") for l in f if l.strip()]

os.makedirs(os.path.join(ROOT, "corpus", "ingest"), exist_ok=True)
os.makedirs(os.path.join(ROOT, "corpus", "json"), exist_ok=True)
events = []
for i, line in enumerate(lines):
    with open(os.path.join(ROOT, "corpus", "json", "line-%03d.json" % i), "w", encoding="utf-8") as f:
        f.write(line)
    try:
        obj = json.loads(line)
    except ValueError:
        continue
    ev = pb.OperationEvent()
    for k, v in obj.items():
        if k == "type":
            ev.type = pb.OperationType.Value(v) if isinstance(v, str) else v
        else:
            setattr(ev, k, v)
    events.append(ev)
    b = pb.EventBatch(events=[ev], batch_id=i + 1)
    with open(os.path.join(ROOT, "corpus", "ingest", "one-%03d.pb" % i), "wb") as f:
        f.write(b.SerializeToString())
for j, start in enumerate(range(0, len(events), 25)):
    b = pb.EventBatch(events=events[start:start + 25], batch_id=1000 + j)
    with open(os.path.join(ROOT, "corpus", "ingest", "batch-%02d.pb" % j), "wb") as f:
        f.write(b.SerializeToString())
print("corpus: %d json, %d ingest" % (len(lines), len(events) + (len(events) + 24) // 25))
