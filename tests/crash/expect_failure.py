#!/usr/bin/python3
"""Run a safety test against a deliberately broken variant; pass only when
it FAILS for the expected reason (STYLE 9: a test of a safety property is
checked once against a broken variant, to show that it can fail).

    expect_failure.py REGEX -- COMMAND [ARGS...]

Passes (exit 0) when COMMAND exits 1 (a test failure, not a crash of the
test itself or a timeout) and its output matches REGEX; fails (exit 1)
otherwise, saying why. The output of COMMAND is printed either way.
"""

import re
import subprocess
import sys


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: expect_failure.py REGEX -- COMMAND [ARGS...]")
    regex, cmd = args[0], args[2:]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1500)
    out = p.stdout.decode("utf-8", "replace")
    print(out, end="", flush=True)
    if p.returncode == 0:
        print("EXPECTED FAILURE MISSING: %s passed against the broken variant: it cannot see the "
              "defect it exists to catch" % " ".join(cmd), flush=True)
        sys.exit(1)
    if p.returncode != 1:
        print("EXPECTED FAILURE MISSING: %s exited %d (a test failure is exit 1)" % (
            " ".join(cmd), p.returncode), flush=True)
        sys.exit(1)
    if not re.search(regex, out):
        print("EXPECTED FAILURE MISSING: %s failed, but its output does not match /%s/" % (
            " ".join(cmd), regex), flush=True)
        sys.exit(1)
    print("as expected, the test failed against the broken variant (/%s/)" % regex, flush=True)


if __name__ == "__main__":
    main()
