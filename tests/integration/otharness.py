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

COUNTERS = ("events", "operations", "killed", "detained", "wounded", "killed_low", "killed_high")


def counter_of(e, f):
    """What an event adds to counter f (not events): the estimates are
    killed when the event gives none (0)."""
    if f in ("killed_low", "killed_high"):
        return e.get(f, 0) or e.get("killed", 0)
    return e.get(f, 0)
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

# The one line `optally consume` prints on stderr once it serves (see
# cli/cmd_consume.c): "optally consume: ready ingest=EP publish=EP
# snapshot=EP data=DIR". Matched at the start of a line, whole words, so
# that "already" (the lock error, "Address already in use") never counts.
READY_RE = re.compile(r"^optally consume: ready ingest=\S+ ", re.M)


def is_ready(stderr_text):
    """True when stderr_text holds the consumer's ready line (READY_RE)."""
    return READY_RE.search(stderr_text) is not None


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


def keygen(d, name):
    """`optally keygen d/name`: returns (d/name.key, d/name.pub)."""
    rc, out, err = _run(["keygen", os.path.join(d, name)])
    assert rc == 0, "keygen %s: rc %d %s" % (name, rc, err)
    return os.path.join(d, name + ".key"), os.path.join(d, name + ".pub")


def read_keys(path):
    """The key = "value" lines of a key file, as str (encode() for pyzmq's
    curve options)."""
    keys = {}
    for line in open(path):
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys[k.strip()] = v.strip().strip('"')
    return keys


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

    The constructor starts it and waits (up to 20 s) for the ready line
    (READY_RE: "optally consume: ready ingest=..." at the start of a line of
    its stderr, which is kept in a file beside the data directory). Any
    other text, "already" included (the lock error, "Address already in
    use"), is not ready: the constructor raises when the process exits or
    the time runs out without that line.
    stop() sends SIGTERM and asserts exit code 0; kill() sends SIGKILL.
    env: variables added to the consumer's environment (e.g. LD_PRELOAD).
    """

    def __init__(self, data_dir, ingest_endpoint, extra_args=(), ready_timeout=READY_TIMEOUT, env=None):
        self.data_dir = data_dir
        self.endpoint = ingest_endpoint
        self.args = [BIN, "consume", "--data", data_dir, "--ingest", ingest_endpoint] + list(extra_args)
        fd, self.stderr_path = tempfile.mkstemp(prefix="optally-consume-", suffix=".stderr", dir="/tmp")
        self._err = os.fdopen(fd, "wb")
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update(env)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err, env=penv)
        _live.append(self)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_ready(self.stderr()):
                return
            if self.proc.poll() is not None:
                err = self.stderr()
                self._done()
                raise AssertionError("consumer exited with %d before ready: %s\nstderr:\n%s"
                                     % (self.proc.returncode, " ".join(self.args), err))
            time.sleep(0.02)
        err = self.stderr()   # before kill(), which removes the file
        self.kill()
        raise AssertionError("consumer not ready after %ds: %s\nstderr:\n%s"
                             % (timeout, " ".join(self.args), err))

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
                    t[f] += counter_of(e, f)
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


# --- reliability helpers (crash, power cut, disk full, flood, hostile) --------
# Added for docs/RELIABILITY.md. AckClient is a producer that keeps every
# answer; the log helpers read the event log two ways (LMDB's own mdb_dump,
# and `optally log export` once it exists) so a test can check "each
# acknowledged event exactly once".

RETRY_LATER = ("STORAGE_FULL", "STORAGE_ERROR", "SHUTTING_DOWN")


def log_entries(data_dir):
    """Entries of the log database (mdb_stat: cheap, reads the meta page;
    works beside a running consumer); -1 when it cannot be read yet."""
    p = subprocess.run(["mdb_stat", "-s", "log", data_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    for line in p.stdout.decode("ascii", "replace").splitlines():
        if line.strip().startswith("Entries:"):
            return int(line.split(":")[1])
    return -1


def event_dict(ev):
    """A pb.OperationEvent as a normalized dict (every field, type a number)."""
    return {f: getattr(ev, f) for f in _DEFAULTS}


def mdb_log(data_dir):
    """The event log read straight from LMDB with mdb_dump (lmdb-utils):
    [(key seq, pb.LogRecord)] in key order. Works beside a running consumer
    (a read transaction)."""
    p = subprocess.run(["mdb_dump", "-s", "log", data_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
    assert p.returncode == 0, "mdb_dump -s log %s: exit %d: %s" % (
        data_dir, p.returncode, p.stderr.decode("utf-8", "replace"))
    lines = p.stdout.decode("ascii").splitlines()
    try:
        body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    except ValueError:
        raise AssertionError("mdb_dump output without HEADER=END/DATA=END: %r" % lines[:20])
    out = []
    for k, v in zip(body[0::2], body[1::2]):
        key = bytes.fromhex(k.strip())
        assert len(key) == 8, "log key of %d bytes (want a u64): %r" % (len(key), k)
        rec = pb.LogRecord()
        rec.ParseFromString(bytes.fromhex(v.strip()))
        out.append((int.from_bytes(key, sys.byteorder), rec))
    return out


def read_delimited(data, msg_type):
    """Messages of a varint-length-delimited stream (writeDelimitedTo)."""
    out, off = [], 0
    while off < len(data):
        n = shift = 0
        while True:
            assert off < len(data), "delimited stream ends inside a length at byte %d" % off
            b = data[off]
            off += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        assert off + n <= len(data), "record at byte %d runs past the end" % off
        m = msg_type()
        m.ParseFromString(data[off:off + n])
        out.append(m)
        off += n
    return out


def log_export(data_dir, tmp, fmt="pb"):
    """`optally log export --data DIR --out FILE [--format json]` read back
    as [(seq, pb.LogRecord)]. JSON Lines rows ({"seq":N,...,"event":{...}})
    are parsed into LogRecords with the field names of the schema. A build
    without `log export` fails the test (no silent skip)."""
    path = os.path.join(tmp, "log-export." + fmt)
    rc, out, err = _run(["log", "export", "--data", data_dir, "--out", path, "--format", fmt, "--quiet"])
    assert rc == 0, "optally log export --data %s --format %s: exit %d\n%s" % (data_dir, fmt, rc, err)
    with open(path, "rb") as f:
        raw = f.read()
    os.unlink(path)
    if fmt == "pb":
        recs = read_delimited(raw, pb.LogRecord)
    else:
        recs = []
        for row in _jsonl(raw.decode("utf-8"), "optally log export --format json"):
            r = pb.LogRecord(seq=int(row["seq"]))
            for k, v in row["event"].items():
                if k == "type" and isinstance(v, str):
                    v = pb.OperationType.Value(v)
                setattr(r.event, k, int(v) if k in ("revision", "operations", "killed", "detained",
                                                      "wounded", "reported_at") else v)
            recs.append(r)
    return [(r.seq, r) for r in recs]


def rebuild_check(data_dir):
    """`optally rebuild --check`: (exit code, stdout, stderr). A build
    without `rebuild` answers with a usage error, which callers assert
    against (no silent skip)."""
    return _run(["rebuild", "--data", data_dir, "--check"])


def check_log(log_rows, inputs=None, acks=None, model=None, label="log"):
    """Assert the exactly-once properties of an event log [(seq, LogRecord)]:
      - seqs strictly increase and each record's own seq equals its key;
      - each (event_id, revision) appears at most once;
      - inputs {(event_id, revision): content dict}: every record is one of
        them, byte for byte in content (nothing invented or torn);
      - acks [(event_id, revision, status, seq)]: every STORED / SUPERSEDED /
        DUPLICATE answer names a seq that holds that (event_id, revision);
      - model: its current revision of every event_id is in the log, and the
        fold of the log (highest revision per id) equals model.
    Returns the Model folded from the log."""
    seen = {}
    last = 0
    for seq, rec in log_rows:
        assert seq > last, "%s: seq %d after %d (not increasing)" % (label, seq, last)
        last = seq
        assert rec.seq == seq, "%s: record at key %d says seq %d" % (label, seq, rec.seq)
        k = (rec.event.event_id, rec.event.revision)
        assert k not in seen, "%s: %s revision %d stored twice (seq %d and %d)" % (label, k[0], k[1], seen[k], seq)
        seen[k] = seq
        if inputs is not None:
            want = inputs.get(k)
            assert want is not None, "%s: seq %d holds %s revision %d, which was never sent" % (label, seq, k[0], k[1])
            got = content(event_dict(rec.event))
            assert got == want, "%s: seq %d: %s rev %d differs from what was sent:\n got %r\nwant %r" % (
                label, seq, k[0], k[1], got, want)
    by_seq = {seq: (rec.event.event_id, rec.event.revision) for seq, rec in log_rows}
    for eid, rev, status, seq in acks or ():
        if status in ("STORED", "SUPERSEDED", "DUPLICATE"):
            assert by_seq.get(seq) == (eid, rev), \
                "%s: %s revision %d was acknowledged %s at seq %d, but the log holds %s there" % (
                    label, eid, rev, status, seq, by_seq.get(seq, "nothing"))
    folded = Model()
    best = {}
    for seq, rec in log_rows:
        e = event_dict(rec.event)
        if e["event_id"] not in best or e["revision"] > best[e["event_id"]]["revision"]:
            best[e["event_id"]] = e
    folded.current = best
    if model is not None:
        for eid, cur in model.current.items():
            assert (eid, cur["revision"]) in seen, "%s: %s revision %d (the current one) is not in the log" % (
                label, eid, cur["revision"])
        d = diff_tables(folded.tables(), model.tables(), label + " folded")
        assert not d, d
    return folded


class AckClient:
    """A producer over one DEALER socket that keeps every answer.

    submit(events) cuts event dicts into batches whose bytes and batch_id
    stay the same on every resend. pump(seconds) sends up to `window`
    batches, resends one after timeout_ms without an answer or backoff_ms
    after a "retry later" batch error (RETRY_LATER), and records replies;
    it returns when every batch has an answer with results. The consumer
    may die and come back on the same endpoint meanwhile (the DEALER
    reconnects). Other batch errors fail the test unless tolerate_errors.

    acks[i]: every (status name, seq, monotonic time) answered for event i
    (a batch resent after a lost answer can be answered twice).
    batch_errors: batch-level errors seen, by name."""

    def __init__(self, endpoint, batch=100, window=8, timeout_ms=2000, backoff_ms=100,
                 tolerate_errors=False):
        import collections
        import random as _random
        self.endpoint = endpoint
        self.batch, self.window = batch, window
        self.timeout, self.backoff = timeout_ms / 1000.0, backoff_ms / 1000.0
        self.tolerate = tolerate_errors
        self.sock = _CTX.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.events = []
        self.acks = {}
        self.batch_errors = collections.Counter()
        self.sends = self.replies = self.late = 0
        self._batches = {}      # batch_id -> [indexes, bytes, state, due]
        self._open = []         # batch_ids not answered yet, in order
        self._next = _random.getrandbits(40) << 16

    def submit(self, events):
        for i in range(0, len(events), self.batch):
            chunk = events[i:i + self.batch]
            first = len(self.events)
            self.events.extend(chunk)
            bid = self._next
            self._next += 1
            self._batches[bid] = [range(first, first + len(chunk)), make_batch(chunk, bid), "new", 0.0]
            self._open.append(bid)

    def done(self):
        return not self._open

    def unanswered(self):
        """Indexes of events whose batch has no answer with results yet."""
        return [i for bid in self._open for i in self._batches[bid][0]]

    def _send(self, bid, now):
        b = self._batches[bid]
        try:
            self.sock.send(b[1], zmq.NOBLOCK)
        except zmq.Again:
            pass  # no connection now: the attempt times out and is resent
        self.sends += 1
        b[2], b[3] = "sent", now + self.timeout

    def _on_reply(self, frames, now):
        rep = pb.IngestReply()
        rep.ParseFromString(frames[-1])
        self.replies += 1
        b = self._batches.get(rep.batch_id)
        assert b is not None, "reply for unknown batch_id %d: %s" % (rep.batch_id, brief(rep))
        open_ = rep.batch_id in self._open_set
        if rep.error != pb.BATCH_OK:
            name = batch_error_name(rep.error)
            self.batch_errors[name] += 1
            if name not in RETRY_LATER and not self.tolerate:
                raise AssertionError("batch %d: unexpected %s" % (rep.batch_id, brief(rep)))
            if open_ and b[2] == "sent":
                b[2], b[3] = "wait", now + self.backoff
            return
        assert len(rep.results) == len(b[0]), "batch %d: %d results for %d events" % (
            rep.batch_id, len(rep.results), len(b[0]))
        for i, r in zip(b[0], rep.results):
            self.acks.setdefault(i, []).append((status_name(r.status), r.seq, now))
        if open_:
            self._open_set.discard(rep.batch_id)
            b[2] = "done"
        else:
            self.late += 1

    def pump(self, seconds, stop=None):
        """Work for up to `seconds` (or until stop() is true); returns done()."""
        deadline = time.monotonic() + seconds
        self._open_set = set(self._open)
        try:
            while self._open_set and time.monotonic() < deadline and not (stop and stop()):
                if len(self._open) > 2 * len(self._open_set) + 64:
                    self._open = [bid for bid in self._open if bid in self._open_set]
                now = time.monotonic()
                inflight = 0
                # Batches never sent ("new") form a suffix of _open.
                for bid in self._open:
                    if bid not in self._open_set:
                        continue
                    b = self._batches[bid]
                    if b[2] == "sent":
                        if now < b[3]:
                            inflight += 1
                            continue
                        b[2], b[3] = "wait", now   # timed out: resend now
                    if inflight >= self.window:
                        if b[2] == "new":
                            break
                        continue
                    if b[2] == "wait" and now < b[3]:
                        continue
                    self._send(bid, now)
                    inflight += 1
                if self.sock.poll(20):
                    while True:
                        try:
                            frames = self.sock.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._on_reply(frames, time.monotonic())
        finally:
            self._open = [bid for bid in self._open if bid in self._open_set]
        return self.done()

    def ack_list(self, before=None):
        """[(event_id, revision, status, seq)] of every answer (received
        before monotonic time `before`, when given)."""
        out = []
        for i, lst in self.acks.items():
            e = self.events[i]
            for st, seq, t in lst:
                if before is None or t < before:
                    out.append((e["event_id"], int(e.get("revision", 0)), st, seq))
        return out

    def close(self):
        self.sock.close(0)


def rss_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB, from /proc/PID/status; (0, 0)
    once it is gone."""
    vals = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    vals[k] = int(v.split()[0])
    except OSError:
        return 0, 0
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)
