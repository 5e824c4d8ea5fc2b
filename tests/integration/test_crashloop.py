#!/usr/bin/python3
"""Crash loop, shortened for ctest: tests/crash/crashloop.py with 20,000
events and 8 SIGKILLs of a durable consumer while `optally produce` and an
acknowledgement-keeping witness stream (see that file for what is checked:
tallies equal the model, nothing acknowledged lost, each acknowledged event
exactly once in the log, rebuild --check clean when it exists).

OPTALLY_CRASHLOOP_FULL=1 runs the full size (200,000 events, 20 kills;
minutes, not for a routine ctest). OPTALLY_TEST_SEED repeats a run.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "crash"))

import otharness as h  # noqa: E402
import crashloop  # noqa: E402


def test():
    if os.environ.get("OPTALLY_CRASHLOOP_FULL") == "1":
        crashloop.run(200000, 20, label="crash loop (full)")
    else:
        crashloop.run(20000, 8, label="crash loop (ctest)")


if __name__ == "__main__":
    h.main(test)
