#!/usr/bin/python3
"""lib/ knows no LMDB: a client of the sending and subscribing libraries does
not link liblmdb.

  1. tests/support/client_link.c, built against otproducer and otsubscriber
     only (tests/cmake/h2.cmake passes its path as OT_CLIENT_LINK_BIN), runs
     and exits 0 (each library refused its bad options, so both were called).
  2. `ldd` on it lists no liblmdb, and it has no undefined mdb_* symbol.
  3. The same check on the full `optally` binary (OPTALLY_BIN), which holds
     the store, does find liblmdb: the check can fail, and would have failed
     for the client while lib/ot_error.c called mdb_strerror (otcore then
     carried liblmdb into every client).
A missing binary, or a missing ldd or nm, is a failure, never a skip.
"""

import os
import shutil
import subprocess
import sys
import time


def need(name):
    v = os.environ.get(name)
    assert v, "%s is not set: run this test through ctest" % name
    assert os.path.isfile(v) and os.access(v, os.X_OK), "%s=%s is not an executable" % (name, v)
    return v


def ldd(path):
    tool = shutil.which("ldd")
    assert tool, "ldd is not installed (libc-bin)"
    r = subprocess.run([tool, path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "ldd %s failed: %s" % (path, r.stderr)
    return r.stdout


def undefined_mdb(path):
    tool = shutil.which("nm")
    assert tool, "nm is not installed (binutils)"
    r = subprocess.run([tool, "-D", "--undefined-only", path], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "nm %s failed: %s" % (path, r.stderr)
    return [line.split()[-1] for line in r.stdout.splitlines() if "mdb_" in line]


def test():
    client = need("OT_CLIENT_LINK_BIN")
    optally = need("OPTALLY_BIN")

    r = subprocess.run([client], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "client_link exit %d: %s %s" % (r.returncode, r.stdout, r.stderr)
    print("client_link: %s" % r.stdout.strip(), flush=True)

    libs = ldd(client)
    assert "liblmdb" not in libs, "a producer/subscriber client links liblmdb:\n%s" % libs
    syms = undefined_mdb(client)
    assert not syms, "a producer/subscriber client needs LMDB symbols: %s" % syms[:10]
    print("client_link: no liblmdb among %d libraries, no mdb_* symbol" %
          len(libs.strip().splitlines()), flush=True)

    full = ldd(optally)
    assert "liblmdb" in full, "optally does not link liblmdb, so this check proves nothing:\n%s" % full
    assert undefined_mdb(optally), "optally has no mdb_* symbol, so this check proves nothing"
    print("optally: links liblmdb (the check can tell)", flush=True)


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        test()
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
    print("PASS (%.1fs)" % (time.monotonic() - t0), flush=True)
