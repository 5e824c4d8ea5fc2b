#!/usr/bin/python3
"""The installed package works from outside the source tree (issue 14).

  1. A plain build of OPTALLY_SRC (no sanitizers, -DOPTALLY_TESTS=OFF) in a
     temporary directory, installed with DESTDIR=D and prefix /usr/local.
  2. The file list: bin/optally; liboptally-client.so.0 (and its .so link)
     and liboptally-client.a; include/optally/ with ot_producer.h,
     ot_subscriber.h and what they include, self-contained, and no store or
     LMDB header; lib/pkgconfig/optally.pc; a man page optally.1 and
     optally-CMD.1 for every command that `optally --help` lists;
     lib/systemd/system/optally.service; etc/default/optally.
  3. `ldd` on the installed .so lists no liblmdb and `nm` finds no mdb_*
     symbol, while the installed optally does link liblmdb (the check can
     tell).
  4. examples/c/scraper.c compiles with `cc scraper.c $(pkg-config --cflags
     --libs optally)` alone (PKG_CONFIG_PATH at D), runs against the
     installed `optally consume` on an ipc:// endpoint: STORED for each
     event and exit 0, then DUPLICATE for each on a second run; and exits 2
     when no consumer answers. It also links statically against
     liboptally-client.a and then needs no liboptally-client.so.
  5. The unit: its keys are parsed (ExecStart runs `optally consume --data
     /var/lib/optally $OPTALLY_ARGS` from the installed bin/, DynamicUser,
     StateDirectory, ProtectSystem=strict, NoNewPrivileges, Restart,
     Type=exec, EnvironmentFile=-/etc/default/optally), and, where
     systemd-analyze exists, `systemd-analyze verify` says nothing of it
     and warns of a copy with a misspelt key (so the verify can fail). The
     output says which of the checks ran.
A missing tool (cmake, cc, pkg-config, help2man, ldd, nm) is a failure,
never a skip.
"""

import configparser
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import otharness as h

SRC = os.environ.get("OPTALLY_SRC")
PREFIX = "/usr/local"
EVENTS = ("centcom-dis-2024q1-iq", "centcom-dis-2024q1-sy")


def log(*a):
    print(*a, flush=True)


def tool(name):
    path = shutil.which(name)
    assert path, "%s is not installed (scripts/deps.sh installs it)" % name
    return path


def run(args, timeout=300, env=None, cwd=None, ok=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if ok:
        assert r.returncode == 0, "%s: exit %d\n%s\n%s" % (" ".join(args), r.returncode,
                                                          r.stdout[-3000:], r.stderr[-3000:])
    return r


def build_and_install(tmp):
    """A plain build of SRC in tmp/build, installed into tmp/root; returns
    the prefix directory under the DESTDIR."""
    cmake = tool("cmake")
    tool("help2man")
    b = os.path.join(tmp, "build")
    dest = os.path.join(tmp, "root")
    t0 = time.monotonic()
    run([cmake, "-S", SRC, "-B", b, "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DOPTALLY_TESTS=OFF",
         "-DOPTALLY_SANITIZE=OFF", "-DCMAKE_INSTALL_PREFIX=" + PREFIX])
    # What is installed, not the benchmark programs (bench/).
    run([cmake, "--build", b, "-j2", "--target", "optally", "optally_client_shared",
         "optally_client_static", "optally_man"], timeout=600)
    env = dict(os.environ, DESTDIR=dest)
    run([cmake, "--install", b], env=env)
    log("built and installed into DESTDIR %s in %.1fs" % (dest, time.monotonic() - t0))
    return dest, dest + PREFIX


def check_files(p):
    def must(rel):
        path = os.path.join(p, rel)
        assert os.path.isfile(path), "not installed: %s" % rel
        return path

    optally = must("bin/optally")
    assert os.access(optally, os.X_OK), "bin/optally is not executable"
    so = must("lib/liboptally-client.so.0")
    must("lib/liboptally-client.so")
    must("lib/liboptally-client.a")
    must("lib/pkgconfig/optally.pc")
    must("lib/systemd/system/optally.service")
    must("etc/default/optally")

    inc = os.path.join(p, "include/optally")
    headers = sorted(os.path.basename(x) for x in glob.glob(os.path.join(inc, "*.h")))
    for need in ("ot_producer.h", "ot_subscriber.h", "ot_event.h", "ot_error.h", "optally.pb-c.h"):
        assert need in headers, "include/optally/%s missing; installed: %s" % (need, headers)
    private = {os.path.basename(x) for x in glob.glob(os.path.join(SRC, "store", "*.h"))}
    assert "ot_store.h" in private, "no store/*.h under %s" % SRC
    private.add("lmdb.h")
    for name in headers:
        assert name not in private, "a store/LMDB header is installed: %s" % name
        text = open(os.path.join(inc, name), encoding="utf-8").read()
        assert not re.search(r'^#\s*include\s*[<"]lmdb\.h', text, re.M), "%s includes lmdb.h" % name
        for dep in re.findall(r'^#include "([^"]+)"', text, re.M):
            assert dep in headers, "%s includes \"%s\", which is not installed" % (name, dep)
    others = [x for x in glob.glob(os.path.join(p, "include", "*")) if not x.endswith("/optally")]
    assert not others, "headers outside include/optally: %s" % others
    log("headers: %s" % " ".join(headers))

    help_text = run([optally, "--help"]).stdout
    block = help_text.split("commands:", 1)[1].split("\n\n", 1)[0]
    cmds = re.findall(r"^  ([a-z][a-z0-9-]*)\s", block, re.M)
    assert len(cmds) >= 5, "optally --help lists too few commands: %s" % cmds
    man = os.path.join(p, "share/man/man1")
    pages = ["optally.1"] + ["optally-%s.1" % c for c in cmds]
    for page in pages:
        path = os.path.join(man, page)
        assert os.path.isfile(path) and os.path.getsize(path) > 200, "man page missing: %s" % page
        assert ".TH" in open(path, encoding="utf-8").read(), "%s is not a man page" % page
    log("man pages: %s" % " ".join(pages))
    return optally, so


def check_no_lmdb(optally, so):
    libs = run([tool("ldd"), so]).stdout
    assert "liblmdb" not in libs, "liboptally-client.so links liblmdb:\n%s" % libs
    nm = tool("nm")
    und = run([nm, "-D", "--undefined-only", so]).stdout
    assert "mdb_" not in und, "liboptally-client.so needs LMDB symbols"
    full = run([tool("ldd"), optally]).stdout
    assert "liblmdb" in full, "installed optally does not link liblmdb: the check proves nothing"
    log("ldd: liboptally-client.so.0 has no liblmdb (optally has: the check can tell)")


def build_example(dest, p, tmp):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(p, "lib/pkgconfig"))
    flags = run([tool("pkg-config"), "--cflags", "--libs", "optally"], env=env).stdout.split()
    assert "-loptally-client" in flags, "pkg-config --libs optally: %s" % flags
    assert any(f.startswith("-I") and f.endswith("/include/optally") and f[2:].startswith(dest)
               for f in flags), "pkg-config --cflags does not point at the DESTDIR: %s" % flags
    exe = os.path.join(tmp, "scraper")
    src = os.path.join(SRC, "examples/c/scraper.c")
    run([tool("cc"), src] + flags + ["-o", exe], cwd=tmp)
    log("example: cc scraper.c %s" % " ".join(flags))

    # The static library links too (its dependencies named: Debian's
    # libzmq.pc breaks `pkg-config --static`), and the program then needs
    # no liboptally-client.so.
    cflags = run([tool("pkg-config"), "--cflags", "optally"], env=env).stdout.split()
    libdir = run([tool("pkg-config"), "--variable=libdir", "optally"], env=env).stdout.strip()
    st = os.path.join(tmp, "scraper-static")
    run([tool("cc"), src] + cflags + ["-L" + libdir, "-Wl,-Bstatic", "-loptally-client",
        "-Wl,-Bdynamic", "-lprotobuf-c", "-lzmq", "-lcjson", "-lpthread", "-o", st], cwd=tmp)
    libs = run([tool("ldd"), st]).stdout
    assert "liboptally-client" not in libs and "liblmdb" not in libs, \
        "the static scraper needs a shared optally or lmdb library:\n%s" % libs
    r = run([st, "--help"])
    assert r.stdout.startswith("usage: scraper"), "scraper-static --help: %r" % r.stdout
    log("example: links statically with liboptally-client.a (no liblmdb)")
    return exe


def run_example(exe, libdir, endpoint):
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    return run([exe, endpoint], env=env, timeout=60, ok=False)


def check_example(optally, exe, libdir, tmp):
    h.BIN = optally   # the installed binary, not the build tree's
    data = os.path.join(tmp, "data")
    ep = h.ipc_endpoint(tmp)
    with h.Consumer(data, ep):
        for want in ("STORED", "DUPLICATE"):
            r = run_example(exe, libdir, ep)
            assert r.returncode == 0, "scraper exit %d:\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
            lines = r.stdout.splitlines()
            assert sorted(lines) == sorted("%s %s" % (e, want) for e in EVENTS), \
                "expected %s for each event, got:\n%s" % (want, r.stdout)
            log("scraper run: %s" % "; ".join(lines))
    r = run_example(exe, libdir, ep)   # the consumer is gone
    assert r.returncode == 2, "scraper without a consumer: exit %d (want 2)\n%s" % (r.returncode, r.stderr)
    log("scraper without a consumer: exit 2")


def unit_keys(path):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(path, encoding="utf-8")
    return cp


def check_unit(dest, p):
    unit = os.path.join(p, "lib/systemd/system/optally.service")
    cp = unit_keys(unit)
    s = cp["Service"]
    want = {"Type": "exec", "DynamicUser": "yes", "StateDirectory": "optally",
            "ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "on-failure",
            "EnvironmentFile": "-/etc/default/optally"}
    for k, v in want.items():
        assert s.get(k) == v, "optally.service: %s=%r, want %r" % (k, s.get(k), v)
    exec_start = s.get("ExecStart", "")
    assert exec_start == PREFIX + "/bin/optally consume --data /var/lib/optally $OPTALLY_ARGS", \
        "optally.service: ExecStart=%r" % exec_start
    assert cp["Install"].get("WantedBy") == "multi-user.target", "no WantedBy=multi-user.target"
    default = open(os.path.join(p, "etc/default/optally"), encoding="utf-8").read()
    assert re.search(r"^OPTALLY_ARGS=", default, re.M), "etc/default/optally sets no OPTALLY_ARGS"
    log("unit: keys parsed and checked (%s)" % ", ".join(sorted(want)))

    sa = shutil.which("systemd-analyze")
    if not sa:
        log("unit: systemd-analyze is not on this machine: only the parsed-keys check ran")
        return
    # Verified on this machine's systemd, as a copy whose ExecStart names
    # the binary under DESTDIR (the installed /usr/local/bin/optally does
    # not exist outside it); --man=no: Documentation= names a page of this
    # package, not installed on the machine. verify exits 0 on an unknown
    # key, with a warning: any output about the unit is a failure.
    vdir = os.path.join(dest, "verify")
    os.makedirs(vdir)

    def verify(text):
        path = os.path.join(vdir, "optally.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("ExecStart=" + PREFIX, "ExecStart=" + p))
        return run([sa, "verify", "--man=no", path], ok=False, timeout=60)

    text = open(unit, encoding="utf-8").read()
    r = verify(text)
    assert r.returncode == 0 and "optally.service" not in r.stdout + r.stderr, \
        "systemd-analyze verify: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr)
    r = verify(text.replace("ProtectSystem=", "ProtectSistem="))
    assert "ProtectSistem" in r.stdout + r.stderr, \
        "systemd-analyze verify says nothing of a misspelt key, so it checks nothing: exit %d\n%s" \
        % (r.returncode, r.stderr)
    log("unit: systemd-analyze verify ran: silent on it, warns of a misspelt key")


def test():
    assert SRC and os.path.isfile(os.path.join(SRC, "CMakeLists.txt")), \
        "OPTALLY_SRC is not set: run this test through ctest"
    tmp = tempfile.mkdtemp(prefix="ot-inst-", dir="/tmp")
    try:
        dest, p = build_and_install(tmp)
        optally, so = check_files(p)
        check_no_lmdb(optally, so)
        check_unit(dest, p)
        exe = build_example(dest, p, tmp)
        check_example(optally, exe, os.path.join(p, "lib"), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.monotonic()
    try:
        test()
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
    print("PASS (%.1fs)" % (time.monotonic() - t0), flush=True)
