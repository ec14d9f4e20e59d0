# bulwark - thin wrapper over CMake presets (see CMakePresets.json).
# Users need two commands: `make demo` and `make check`.
JOBS ?= 2
FUZZ_SECONDS ?= 10
PREFIX ?= /usr/local

.PHONY: all deps build demo check test asan release-build fuzz-smoke fuzz bench install clean

all: build

deps:
	@bash scripts/deps.sh

build/dev/Makefile: CMakeLists.txt CMakePresets.json
	cmake --preset dev >/dev/null

build: deps
	cmake --preset dev >/dev/null
	cmake --build build/dev -j$(JOBS)

demo: build
	bash scripts/demo.sh build/dev/bulwark

test: build
	ctest --test-dir build/dev --output-on-failure -j$(JOBS)

asan: deps
	cmake --preset asan >/dev/null
	cmake --build build/asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan --output-on-failure -j$(JOBS) -L 'unit|fuzz|cli'

fuzz-smoke: deps
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	bash scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

release-build: deps
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)

# The whole suite: warnings as errors, unit + CLI + conformance tests,
# the same under ASan+UBSan, the hardened release build (-O2 finds other
# warnings), then a short libFuzzer run of every parser.
check: test asan release-build fuzz-smoke
	@echo "make check: all stages passed"

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j$(JOBS)
	bash scripts/fuzz.sh build/fuzz $${FUZZ_SECONDS:-600}

bench: deps
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)
	bash bench/run.sh build/release

install: deps
	cmake --preset release >/dev/null
	cmake --build build/release -j$(JOBS)
	cmake --install build/release --prefix $(PREFIX)

clean:
	rm -rf build
