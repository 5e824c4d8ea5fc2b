# The two commands of a new user (see README.md):
#   make demo   install what is missing, build, run the demo pipeline on bundled data
#   make test   install what is missing, build with ASan+UBSan, run every test (ctest)
BUILD      ?= build
TESTBUILD  ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test test-unit clean

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

clean:
	rm -rf $(BUILD) $(TESTBUILD)
