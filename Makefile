# leanpix: the two commands a newcomer needs are `make demo` and `make test`.
# Both install missing Debian packages first (scripts/deps.sh), then build with CMake.
#
#   make            build (RelWithDebInfo, -Werror) into build/
#   make demo       generate a photo-like sample, convert it to AVIF, print what happened
#   make test       build, run the suite, then again under ASan+UBSan and under TSan
#   make test-tsan  only the ThreadSanitizer pass
#   make bench      the benchmarks against avifenc/vips/ImageMagick (long; see docs/benchmarks.md)

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BUILD ?= build

.PHONY: all build deps deps-test deps-demo demo test test-plain test-asan test-tsan test-tsan-run bench clean

all: build

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test
deps-demo:
	@scripts/deps.sh demo

build: deps
	@cmake -S . -B $(BUILD) -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@MAKEFLAGS= cmake --build $(BUILD) -j $(JOBS)

demo: deps-demo build
	@scripts/demo.sh $(BUILD)/leanpix

test: deps-test
	@$(MAKE) --no-print-directory test-plain
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan-run

test-plain:
	@cmake -S . -B build -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@MAKEFLAGS= cmake --build build -j $(JOBS)
	@cd build && ctest --output-on-failure -j $(JOBS)

# Sanitizer runs set LP_SANITIZED so that tests can keep big inputs for the plain run.
test-asan:
	@cmake -S . -B build-asan -DLP_WERROR=ON -DLP_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@MAKEFLAGS= cmake --build build-asan -j $(JOBS)
	@cd build-asan && LP_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

test-tsan: deps-test
	@$(MAKE) --no-print-directory test-tsan-run

test-tsan-run:
	@cmake -S . -B build-tsan -DLP_WERROR=ON -DLP_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	@MAKEFLAGS= cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && LP_SANITIZED=1 TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@scripts/deps.sh bench
	@bench/run-all.sh $(BUILD)/leanpix

clean:
	rm -rf build build-asan build-tsan
