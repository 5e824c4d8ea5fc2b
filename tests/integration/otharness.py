"""otharness: what the integration tests of optally share.

Run the tests with Debian's /usr/bin/python3 (it has python3-zmq and
python3-protobuf); ctest sets the environment:

  OPTALLY_BIN     path of the optally binary
  OPTALLY_PYPATH  directory holding the protoc-generated optally_pb2.py
  OPTALLY_SRC     repository root (for data/)

Without them, the defaults are <repo>/build/optally and <repo>/build/tests/py
relative to this file, so `/usr/bin/python3 tests/integration/test_demo.py`
works after `make build`.

Contents:
  BIN, SRC, pb               the binary, the repo root, the optally_pb2 module
  free_port(), tcp_endpoint(), ipc_endpoint(dir)
  tempdir()                  a context manager: a fresh directory, removed after
  Consumer                   one `optally consume` process
  run_produce(), parse_summary(), query(), query_all(), rejects()
  req_send()                 one request over a fresh zmq.REQ socket
  Model                      the fold of the spec, to compute expected tallies
  read_jsonl()               a JSON Lines file as (line number, event or None)

Every helper raises AssertionError (with the process output) on a failure,
so a test is a plain script that exits non-zero with a clear message.
"""

import atexit
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("OPTALLY_SRC") or os.path.dirname(os.path.dirname(_HERE))
BIN = os.environ.get("OPTALLY_BIN") or os.path.join(SRC, "build", "optally")
PYPATH = os.environ.get("OPTALLY_PYPATH") or os.path.join(SRC, "build", "tests", "py")

if not os.access(BIN, os.X_OK):
    sys.exit("otharness: no optally binary at %s (set OPTALLY_BIN)" % BIN)
if not os.path.exists(os.path.join(PYPATH, "optally_pb2.py")):
    sys.exit("otharness: no optally_pb2.py in %s (set OPTALLY_PYPATH)" % PYPATH)
sys.path.insert(0, PYPATH)

import zmq  # noqa: E402
import optally_pb2 as pb  # noqa: E402

DATA = os.path.join(SRC, "data")
DEMO_FILE = os.path.join(DATA, "centcom-q1-2024.jsonl")
UPDATES_FILE = os.path.join(DATA, "centcom-q1-2024-updates.jsonl")

COUNTERS = ("events", "operations", "killed", "detained", "wounded")
VIEWS = {
    "total": (),
    "country": ("country",),
    "country,quarter": ("country", "quarter"),
    "country,month": ("country", "month"),
    "country,partner_force": ("country", "partner_force"),
}
STATUSES = ("stored", "duplicate", "superseded", "stale", "rejected")

# Seconds a CLI command (produce, query, rejects) may take before the test
# fails; generous for sanitizer builds on a 2-core machine.
CMD_TIMEOUT = 120
READY_TIMEOUT = 20

_live = []  # consumers still running, killed at exit whatever happens


def _cleanup():
    for c in list(_live):
        try:
            c.kill()
        except Exception:
            pass


atexit.register(_cleanup)


def log(*args):
    print(*args, flush=True)


# --- places ------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_endpoint():
    return "tcp://127.0.0.1:%d" % free_port()


def ipc_endpoint(directory):
    """An ipc:// endpoint in directory (keep directory short: sun_path holds
    about 107 bytes)."""
    path = os.path.join(directory, "ingest.sock")
    assert len(path) < 100, "ipc path too long: %s" % path
    return "ipc://" + path


@contextlib.contextmanager
def tempdir(prefix="optally-test-"):
    """A fresh directory under /tmp (short paths, for ipc://), removed after."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- processes -----------------------------------------------------------------

class Consumer:
    """One `optally consume --data DIR --ingest EP [extra_args]` process.

    The constructor starts it and waits (up to 20 s) for the line with
    "ready" on its stderr, which is kept in a file beside the data directory.
    stop() sends SIGTERM and asserts exit code 0; kill() sends SIGKILL.
    """

    def __init__(self, data_dir, ingest_endpoint, extra_args=(), ready_timeout=READY_TIMEOUT):
        self.data_dir = data_dir
        self.endpoint = ingest_endpoint
        self.args = [BIN, "consume", "--data", data_dir, "--ingest", ingest_endpoint] + list(extra_args)
        fd, self.stderr_path = tempfile.mkstemp(prefix="optally-consume-", suffix=".stderr", dir="/tmp")
        self._err = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err)
        _live.append(self)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready" in self.stderr():
                return
            if self.proc.poll() is not None:
                raise AssertionError("consumer exited with %d before ready: %s\nstderr:\n%s"
                                     % (self.proc.returncode, " ".join(self.args), self.stderr()))
            time.sleep(0.02)
        self.kill()
        raise AssertionError("consumer not ready after %ds: %s\nstderr:\n%s"
                             % (timeout, " ".join(self.args), self.stderr()))

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def _done(self):
        if self in _live:
            _live.remove(self)
        self._err.close()
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass

    def stop(self, timeout=10):
        """SIGTERM; assert the consumer exits 0 within timeout seconds.
        Returns the seconds it took."""
        assert self.alive(), "consumer died before stop (rc %s); stderr:\n%s" % (
            self.proc.returncode, self.stderr())
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            err = self.stderr()
            self.kill()
            raise AssertionError("consumer still running %ds after SIGTERM; stderr:\n%s" % (timeout, err))
        took = time.monotonic() - t0
        err = self.stderr()
        self._done()
        assert rc == 0, "consumer exit code %d after SIGTERM (want 0); stderr:\n%s" % (rc, err)
        return took

    def kill(self):
        """SIGKILL (no clean-up at all: a crash) and reap."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._done()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self in _live:
            self.kill()


def _run(args, input=None, timeout=CMD_TIMEOUT):
    if isinstance(input, str):
        input = input.encode("utf-8")
    try:
        p = subprocess.run([BIN] + list(args), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("timed out after %ds: optally %s\nstderr:\n%s" % (
            timeout, " ".join(args), (e.stderr or b"").decode("utf-8", "replace")))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_produce(args, input=None, timeout=CMD_TIMEOUT):
    """`optally produce ARGS` (input: bytes/str on stdin, or None).
    Returns (rc, stdout, stderr)."""
    return _run(["produce"] + list(args), input, timeout)


def produce_bg(args, stdout_path, stderr_path):
    """Start `optally produce ARGS` in the background, output to files."""
    return subprocess.Popen([BIN, "produce"] + list(args), stdin=subprocess.DEVNULL,
                            stdout=open(stdout_path, "wb"), stderr=open(stderr_path, "wb"))


_SUMMARY = re.compile(r"stored (\d+), duplicate (\d+), superseded (\d+), stale (\d+), rejected (\d+)")


def parse_summary(stdout):
    """The counts of produce's summary line as a dict, or AssertionError."""
    m = _SUMMARY.search(stdout)
    assert m, "no summary line 'stored N, duplicate N, ...' in produce stdout: %r" % stdout
    return dict(zip(STATUSES, (int(x) for x in m.groups())))


def _jsonl(text, what):
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as e:
            raise AssertionError("%s: line %d is not JSON (%s): %r" % (what, n, e, line))
    return rows


def query(data_dir, view=None):
    """Rows of `optally query --data DIR --format json [--view V]`."""
    args = ["query", "--data", data_dir, "--format", "json"]
    if view is not None:
        args += ["--view", view]
    rc, out, err = _run(args)
    assert rc == 0, "optally %s: exit %d\nstderr:\n%s" % (" ".join(args), rc, err)
    return _jsonl(out, "optally " + " ".join(args))


def rejects(data_dir):
    """Rows of `optally rejects --data DIR --format json`."""
    args = ["rejects", "--data", data_dir, "--format", "json"]
    rc, out, err = _run(args)
    assert rc == 0, "optally %s: exit %d\nstderr:\n%s" % (" ".join(args), rc, err)
    return _jsonl(out, "optally " + " ".join(args))


def tally_table(rows, view):
    """Query rows of one view as {key tuple: {counter: n}}, all-zero rows
    dropped. Asserts each row has the view's key fields and every counter."""
    fields = VIEWS[view]
    out = {}
    for r in rows:
        assert r.get("view") == view, "row of view %r in a query of %r: %r" % (r.get("view"), view, r)
        for f in fields + COUNTERS:
            assert f in r, "query row of %s lacks %r: %r" % (view, f, r)
        key = tuple(r[f] for f in fields)
        assert key not in out, "key %r twice in view %s" % (key, view)
        c = {f: int(r[f]) for f in COUNTERS}
        if any(c.values()):
            out[key] = c
    return out


def query_all(data_dir):
    """{view: tally_table} over every default view, one query per view."""
    return {v: tally_table(query(data_dir, v), v) for v in VIEWS}


def diff_tables(got, want, label=""):
    """A readable description of the differences of two {view: table}, '' when equal."""
    lines = []
    for v in sorted(set(got) | set(want)):
        g, w = got.get(v, {}), want.get(v, {})
        for k in sorted(set(g) | set(w), key=repr):
            if g.get(k) != w.get(k):
                lines.append("  %s %s: got %s, want %s" % (v, "/".join(map(str, k)) or "-", g.get(k), w.get(k)))
    if not lines:
        return ""
    return "%stallies differ from the model:\n" % (label + ": " if label else "") + "\n".join(lines)


def assert_tallies(data_dir, model, label=""):
    d = diff_tables(query_all(data_dir), model.tables(), label)
    assert not d, d


# --- ZeroMQ --------------------------------------------------------------------

_CTX = zmq.Context.instance()


def req_send(endpoint, batch_bytes, timeout_ms=5000):
    """Send one message over a fresh zmq.REQ socket and wait for the reply.
    Returns the reply as a decoded pb.IngestReply, or None when no reply came
    within timeout_ms. The socket is closed (linger 0) either way."""
    s = _CTX.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    try:
        s.connect(endpoint)
        s.send(batch_bytes)
        try:
            frames = s.recv_multipart()
        except zmq.Again:
            return None
    finally:
        s.close(0)
    assert len(frames) == 1, "reply has %d frames, want 1: %r" % (len(frames), frames)
    rep = pb.IngestReply()
    try:
        rep.ParseFromString(frames[0])
    except Exception as e:
        raise AssertionError("reply is not an IngestReply (%s): %r" % (e, frames[0][:200]))
    return rep


def make_event(**kw):
    """A pb.OperationEvent from keyword fields (type by name or number)."""
    ev = pb.OperationEvent()
    for k, v in kw.items():
        if k == "type" and isinstance(v, str):
            v = pb.OperationType.Value(v)
        setattr(ev, k, v)
    return ev


def event_from_dict(d):
    return make_event(**d)


def make_batch(events, batch_id=0):
    """Serialized EventBatch of pb.OperationEvent or dict events."""
    b = pb.EventBatch(batch_id=batch_id)
    for e in events:
        b.events.append(e if isinstance(e, pb.OperationEvent) else event_from_dict(e))
    return b.SerializeToString()


def brief(rep):
    """A one-line description of an IngestReply for failure messages."""
    if rep is None:
        return "no reply"
    st = [status_name(r.status) for r in rep.results]
    runs = []
    for x in st:
        if runs and runs[-1][0] == x:
            runs[-1][1] += 1
        else:
            runs.append([x, 1])
    return "IngestReply(error=%s%s, batch_id=%d, results=[%s])" % (
        batch_error_name(rep.error), " %r" % rep.error_text if rep.error_text else "", rep.batch_id,
        ", ".join("%s x%d" % (x, n) if n > 1 else x for x, n in runs))


def status_name(n):
    return pb.IngestStatus.Name(n)


def reason_name(n):
    return pb.RejectReason.Name(n)


def batch_error_name(n):
    return pb.BatchError.Name(n)


# --- the model ------------------------------------------------------------------

# proto3 defaults: an absent field equals its zero value, so {"revision": 0}
# and {} are the same content.
_DEFAULTS = {"event_id": "", "revision": 0, "retracted": False, "source": "",
             "source_url": "", "occurred_on": "", "occurred_until": "", "country": "",
             "admin1": "", "partner_force": "", "operations": 0, "killed": 0,
             "detained": 0, "wounded": 0, "reported_at": 0, "notes": "", "type": 0}
_TYPE_NAMES = {"OPERATION_TYPE_UNSPECIFIED": 0, "PARTNERED": 1, "UNILATERAL": 2,
               "AIRSTRIKE": 3, "RAID": 4}
# ISO 3166-1 user-assigned codes: never a country.
_USER_ASSIGNED = {"AA", "ZZ"} | {"Q" + c for c in "MNOPQRSTUVWXYZ"} | {"X" + chr(c) for c in range(65, 91)}
COUNT_MAX = 1000000
BATCH_MAX = 10000


def normalize(ev):
    """An event dict with every proto field present (proto3 defaults) and
    type as a number, integers as ints."""
    n = dict(_DEFAULTS)
    n.update(ev)
    if isinstance(n["type"], str):
        n["type"] = _TYPE_NAMES[n["type"]]
    for f in ("revision", "operations", "killed", "detained", "wounded", "reported_at"):
        n[f] = int(n[f])
    return n


def content(ev):
    """What makes two revisions "the same": every field but reported_at."""
    c = normalize(ev)
    del c["reported_at"]
    return c


def _date(s):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s or ""):
        return None
    try:
        return datetime.date(int(s[:4]), int(s[5:7]), int(s[8:]))
    except ValueError:
        return None


def validate(ev, today=None):
    """The reject reason name the consumer should give ev, or None when it is
    valid. Covers the rules the test data exercises; not the full rule set
    (for example, any two upper-case letters outside the user-assigned
    ranges count as a country here)."""
    e = normalize(ev)
    today = today or datetime.date.today()
    for f in ("event_id", "source", "occurred_on", "country"):
        if not e[f]:
            return "MISSING_FIELD"
    if len(e["event_id"].encode("utf-8")) > 128 or not re.fullmatch(r"[\x21-\x7e]+", e["event_id"]):
        return "BAD_EVENT_ID"
    d = _date(e["occurred_on"])
    if d is None:
        return "BAD_DATE"
    if d > today + datetime.timedelta(days=1):
        return "FUTURE_DATE"
    if d.year < 1990:
        return "DATE_TOO_OLD"
    if not re.fullmatch(r"[A-Z]{2}", e["country"]) or e["country"] in _USER_ASSIGNED:
        return "UNKNOWN_COUNTRY"
    if any(e[f] > COUNT_MAX for f in ("operations", "killed", "detained", "wounded")):
        return "COUNT_TOO_LARGE"
    if not e["retracted"] and not any(e[f] for f in ("operations", "killed", "detained", "wounded")):
        return "EMPTY_EVENT"
    return None


def view_key(view, ev):
    vals = []
    for f in VIEWS[view]:
        if f == "quarter":
            vals.append("%s-Q%d" % (ev["occurred_on"][:4], (int(ev["occurred_on"][5:7]) - 1) // 3 + 1))
        elif f == "month":
            vals.append(ev["occurred_on"][:7])
        else:
            vals.append(ev[f])
    return tuple(vals)


class Model:
    """The fold of the spec: every tally is the sum over the current revision
    of every distinct stored, non-retracted event.

    apply(ev) returns the status name the consumer should answer
    ("STORED", "DUPLICATE", "SUPERSEDED", "STALE", "REJECTED") and, for
    REJECTED, the reason; tables() gives {view: {key: counters}} without
    all-zero rows, comparable with query_all()."""

    def __init__(self):
        self.current = {}  # event_id -> normalized current revision

    def apply(self, ev, check=True):
        e = normalize(ev)
        if check:
            reason = validate(e)
            if reason:
                return "REJECTED", reason
        cur = self.current.get(e["event_id"])
        if cur is None:
            self.current[e["event_id"]] = e
            return "STORED", None
        if e["revision"] == cur["revision"]:
            if content(e) == content(cur):
                return "DUPLICATE", None
            return "REJECTED", "CONFLICT"
        if e["revision"] > cur["revision"]:
            self.current[e["event_id"]] = e
            return "SUPERSEDED", None
        return "STALE", None

    def apply_all(self, events, check=True):
        """Fold events in order; returns the summary counts
        {"stored": n, ..., "rejected": n} and the list of (status, reason)."""
        counts = dict.fromkeys(STATUSES, 0)
        outcomes = []
        for ev in events:
            st, reason = self.apply(ev, check)
            counts[st.lower()] += 1
            outcomes.append((st, reason))
        return counts, outcomes

    def tables(self):
        out = {v: {} for v in VIEWS}
        for e in self.current.values():
            if e["retracted"]:
                continue
            for v in VIEWS:
                t = out[v].setdefault(view_key(v, e), dict.fromkeys(COUNTERS, 0))
                t["events"] += 1
                for f in COUNTERS[1:]:
                    t[f] += e[f]
        for v in VIEWS:
            out[v] = {k: c for k, c in out[v].items() if any(c.values())}
        return out


def expected_summary(model, lines):
    """Fold the events of read_jsonl() lines into model; returns the produce
    summary they should give: a line that is not a JSON object is never sent
    and counts as "rejected" (optally produce counts malformed lines there)."""
    counts, _ = model.apply_all([ev for _, ev in lines if ev is not None])
    counts["rejected"] += sum(1 for _, ev in lines if ev is None)
    return counts


def read_jsonl(path):
    """[(line number, dict or None for a line that is not a JSON object)]."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append((n, d if isinstance(d, dict) else None))
            except ValueError:
                out.append((n, None))
    return out


def write_jsonl(path, events):
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def wait_for(pred, timeout, interval=0.05):
    """Poll pred() until true or timeout seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def dir_bytes(path):
    """Bytes actually allocated by the files of a directory (LMDB's map file
    is sparse, so st_size says little)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def gen_events(rng, n):
    """About n valid events in file order, for the crash and shutdown tests:
    distinct random event_ids; ~8% get a correction (revision 1, other
    counts), ~3% a retraction (the next revision, retracted); ~5% of the
    lines are exact copies of an earlier line. Revisions and copies come
    after what they revise or copy, a random distance later. No two lines
    share an event_id and revision with different content (no CONFLICT)."""
    countries = [("IQ", ["ISF", "CTS", ""]), ("SY", ["SDF", ""]), ("AF", [""]),
                 ("SO", ["SNA", ""]), ("YE", [""])]
    nbase = int(n * 0.85)
    keyed = []
    for i in range(nbase):
        cc, forces = rng.choice(countries)
        day = datetime.date(2023, 1, 1) + datetime.timedelta(days=rng.randrange(547))
        base = {"event_id": "crash-%016x" % rng.getrandbits(64), "source": "TEST",
                "occurred_on": day.isoformat(), "country": cc,
                "partner_force": rng.choice(forces), "operations": rng.randint(1, 3),
                "killed": rng.randint(0, 4), "detained": rng.randint(0, 6),
                "wounded": rng.randint(0, 2), "reported_at": 1712059200000 + i,
                "type": "PARTNERED"}
        keyed.append((i, 0, base))
        rev, at = 0, i
        if rng.random() < 0.08:
            rev, at = rev + 1, at + rng.randint(1, 3000)
            keyed.append((at, rev, dict(base, revision=rev, killed=base["killed"] + 1,
                                        detained=rng.randint(0, 9))))
        if rng.random() < 0.03:
            rev, at = rev + 1, at + rng.randint(1, 3000)
            keyed.append((at, rev, dict(base, revision=rev, retracted=True)))
    ndup = n - len(keyed)
    for _ in range(max(0, ndup)):
        at, rev, ev = rng.choice(keyed)
        keyed.append((at + rng.randint(1, 3000), rev, ev))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [ev for _, _, ev in keyed]


def seed_from_env(name="OPTALLY_TEST_SEED"):
    """The random seed: $OPTALLY_TEST_SEED, else a fresh one. Printed, so a
    failing run can be repeated."""
    v = os.environ.get(name)
    seed = int(v) if v else int.from_bytes(os.urandom(4), "little")
    log("random seed %d (repeat with %s=%d)" % (seed, name, seed))
    return seed


def main(test):
    """Run test() and exit 0, or print the failure and exit 1."""
    import traceback
    t0 = time.monotonic()
    try:
        test()
    except AssertionError as e:
        _cleanup()
        tb = traceback.extract_tb(e.__traceback__)
        where = ["%s:%d" % (os.path.basename(f.filename), f.lineno) for f in tb
                 if f.filename.endswith(".py")][-2:]
        print("FAIL (%s): %s" % (" <- ".join(reversed(where)), e), file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception:
        _cleanup()
        traceback.print_exc()
        sys.exit(1)
    print("PASS (%.1fs)" % (time.monotonic() - t0), flush=True)
