# The two commands of a new user (see README.md):
#   make demo   install what is missing, build, run the demo pipeline on bundled data
#   make test   install what is missing, build with ASan+UBSan, run every test (ctest)
#   make deb    the Debian package: build-deb/optally_<version>_<arch>.deb (cpack)
#   make bench  the benchmark of docs/PERFORMANCE.md (BENCH_EVENTS=100000 for a quick try);
#               make bench-10m for the 10M-event scale run (long, ~5 GB of disk)
BUILD      ?= build
TESTBUILD  ?= build-test
DEBBUILD   ?= build-deb
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test test-unit clean bench bench-10m bench-compare deb

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target optally -- --no-print-directory >/dev/null || cmake --build $(BUILD) --target optally

demo: build
	@scripts/demo.sh $(BUILD)/optally

test: deps
	@cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=Debug -DOPTALLY_SANITIZE=ON -DOPTALLY_WERROR=ON >/dev/null
	@cmake --build $(TESTBUILD) -j $(JOBS)
	@cd $(TESTBUILD) && ctest --output-on-failure -j $(JOBS)

# The .deb (packaging/cpack.cmake): its own build, configured for /usr,
# without the tests and the benchmark programs.
deb: deps
	@cmake -S . -B $(DEBBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	  -DOPTALLY_TESTS=OFF -DOPTALLY_BENCH=OFF >/dev/null
	@cmake --build $(DEBBUILD) -j $(JOBS) -- --no-print-directory >/dev/null || cmake --build $(DEBBUILD)
	@cd $(DEBBUILD) && cpack -G DEB

BENCH_EVENTS ?= 1000000
BENCH_10M_EVENTS ?= 10000000

BENCH_REV ?=

# bench/run.sh builds what it measures (CMake target otb_all: optally and
# the programs of bench/) in $(BUILD); BENCH_REV=HEAD (or any commit)
# measures that revision instead, built apart.
bench:
	@scripts/bench-deps.sh
	@BUILD=$(abspath $(BUILD)) BENCH_REV=$(BENCH_REV) bench/run.sh --events $(BENCH_EVENTS)

# make bench-compare BENCH_REV=REV: the work tree beside REV, end to end,
# interleaved rounds on the same inputs (bench/compare.sh), with the ratio.
BENCH_COMPARE_EVENTS ?= 300000
bench-compare:
	@scripts/bench-deps.sh
	@BUILD=$(abspath $(BUILD)) bench/compare.sh --rev $(or $(BENCH_REV),HEAD) --events $(BENCH_COMPARE_EVENTS)

bench-10m:
	@scripts/bench-deps.sh
	@BUILD=$(abspath $(BUILD)) BENCH_REV=$(BENCH_REV) bench/run.sh --scale --events $(BENCH_10M_EVENTS)

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(DEBBUILD)

# Fuzzing with libFuzzer (clang): FUZZ_SECONDS per target, on a scratch copy
# of the committed corpus; a crash leaves its input in build-fuzz/artifacts/
# (copy it into tests/fuzz/regress/<target>/ to make it a regression test).
FUZZBUILD    ?= build-fuzz
FUZZ_SECONDS ?= 30
.PHONY: fuzz
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZBUILD) -DCMAKE_BUILD_TYPE=Debug -DOPTALLY_FUZZ=ON -DOPTALLY_SANITIZE=ON >/dev/null
	@cmake --build $(FUZZBUILD) -j $(JOBS) --target fuzz_ingest fuzz_json >/dev/null
	@mkdir -p $(FUZZBUILD)/artifacts
	@for t in ingest json; do \
	  rm -rf $(FUZZBUILD)/corpus-$$t && cp -r tests/fuzz/corpus/$$t $(FUZZBUILD)/corpus-$$t && \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
	  $(FUZZBUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZBUILD)/artifacts/$$t- -print_final_stats=1 $(FUZZBUILD)/corpus-$$t \
	    tests/fuzz/regress/$$t 2>$(FUZZBUILD)/fuzz-$$t.log || { tail -40 $(FUZZBUILD)/fuzz-$$t.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZBUILD)/fuzz-$$t.log; \
	done
