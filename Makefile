# leanpix: the two commands a newcomer needs are `make demo` and `make test`.
# Both install missing Debian packages first (scripts/deps.sh), then build with CMake.
#
#   make            build (RelWithDebInfo, -Werror) into build/
#   make demo       generate a photo-like sample, convert it to AVIF, print what happened
#   make test       build, run the suite, build Release (-O3) with GCC and a build with clang
#                   (all targets, -Werror; their fast unit tests run), then the suite again
#                   under ASan+UBSan and under TSan, then the fuzz smoke runs
#   make test-builds  only the Release and clang builds of `make test`
#   make test-tsan  only the ThreadSanitizer pass
#   make bench      the benchmarks against avifenc/vips/ImageMagick (long; see docs/benchmarks.md)
#   make bench-reference  the reference batch of issue 11 (bench/reference-batch.sh: leanpix,
#                   xargs avifenc, the classic pipeline and its fixes); SCALE=0.05 for a quick
#                   run, the default 1 is the full batch (~45 min of 2 busy cores per tool)
#   make fuzz       run each libFuzzer harness for FUZZ_SECONDS (default 60; FUZZ_TARGETS picks
#                   some, e.g. FUZZ_TARGETS="jpeg_source png_source"); see docs/reliability.md
#   make test-fuzz  only the fuzz step of `make test`: replay seeds and reproducers, short smoke runs
#   make package    the Debian package build-package/leanpix_VERSION_ARCH.deb (Release, /usr; see
#                   README "Packages"); tests/test_package.sh builds and installs one in `make test`
#   make test-dist  the Slurm job array of docs/batch.md on a single-node cluster the test starts
#                   (root; installs slurm-wlm and munge; about a minute, so not in `make test`)
#   make container-test  the container image (Containerfile) built from Debian's packages with
#                   mmdebstrap + podman, then smoke-tested (scripts/container.sh; root, ~5 min,
#                   downloads Debian packages: not part of `make test`; README "Container")

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BUILD ?= build
# The fuzz build (clang, libFuzzer + ASan + UBSan) and where `make fuzz` keeps its working
# corpus (grows across runs; outside the repository).
FUZZ_BUILD ?= build-fuzz
FUZZ_CORPUS ?= $(FUZZ_BUILD)/corpus
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_TARGETS ?=
# What the Release and clang builds of `make test` run: the unit tests that take seconds
# (the whole suite runs in the plain and sanitizer builds).
FAST_TESTS ?= ^test_(core|ops|machine|png|layers|symbols|install)$$
# cmake --build with a fresh MAKEFLAGS (no -j or jobserver from this make) that keeps the
# generated makefiles from printing "Entering directory" for each of their sub-makes.
CMAKE_BUILD = MAKEFLAGS=--no-print-directory cmake --build

.PHONY: all build deps deps-test deps-demo demo test test-plain test-builds test-builds-run \
	test-asan test-tsan test-tsan-run bench bench-reference clean fuzz fuzz-build test-fuzz \
	test-fuzz-run package test-dist container-test

all: build

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test
deps-demo:
	@scripts/deps.sh demo

build: deps
	@cmake -S . -B $(BUILD) -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) $(BUILD) -j $(JOBS)

demo: deps-demo build
	@scripts/demo.sh $(BUILD)/leanpix

test: deps-test
	@$(MAKE) --no-print-directory test-plain
	@$(MAKE) --no-print-directory test-builds-run
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan-run
	@$(MAKE) --no-print-directory test-fuzz-run

test-plain:
	@cmake -S . -B build -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) build -j $(JOBS)
	@cd build && ctest --output-on-failure -j $(JOBS)

# The builds packagers and other compilers make: Release (-O3, where GCC's flow analysis
# warns more) and clang, both warning-free with -Werror.
test-builds: deps-test
	@$(MAKE) --no-print-directory test-builds-run

test-builds-run:
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) build-release -j $(JOBS)
	@cd build-release && ctest --output-on-failure -j $(JOBS) -R '$(FAST_TESTS)'
	@cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) build-clang -j $(JOBS)
	@cd build-clang && ctest --output-on-failure -j $(JOBS) -R '$(FAST_TESTS)'

# Sanitizer runs set LP_SANITIZED so that tests can keep big inputs for the plain run.
test-asan:
	@cmake -S . -B build-asan -DLP_WERROR=ON -DLP_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) build-asan -j $(JOBS)
	@cd build-asan && LP_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

test-tsan: deps-test
	@$(MAKE) --no-print-directory test-tsan-run

test-tsan-run:
	@cmake -S . -B build-tsan -DLP_WERROR=ON -DLP_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) build-tsan -j $(JOBS)
	@cd build-tsan && LP_SANITIZED=1 TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# The fuzz build is clang's: -Werror there too, so that clang's own warnings are kept out.
fuzz-build:
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DLP_FUZZ=ON -DLP_BUILD_TESTS=OFF \
		-DLP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@$(CMAKE_BUILD) $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all leanpix lp-mksample
	@scripts/fuzz-seeds.sh $(FUZZ_BUILD) $(FUZZ_BUILD)/seeds >/dev/null

fuzz: deps-test
	@$(MAKE) --no-print-directory fuzz-build
	@LP_FUZZ_CORPUS=$(FUZZ_CORPUS) fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-fuzz: deps-test
	@$(MAKE) --no-print-directory test-fuzz-run

test-fuzz-run: fuzz-build
	@fuzz/run.sh test $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# packaging/build-deb.sh: a Release build configured for /usr, then CPack's DEB generator.
package:
	@scripts/deps.sh package
	@JOBS=$(JOBS) packaging/build-deb.sh build-package

# tests/dist/test_slurm_array.sh: docs/batch.md's Slurm array, 4 shards, one task cancelled
# and requeued. Not part of `make test`: it needs root and a minute CI does not have. When it
# cannot run (not root, packages not installable) it says why and is skipped (exit 77).
test-dist: build
	@scripts/deps.sh dist || echo "test-dist: scripts/deps.sh dist failed; the test will skip what is missing" >&2
	@tests/dist/test_slurm_array.sh $(BUILD)/leanpix $(BUILD)/lp-mksample; rc=$$?; \
		if [ $$rc -eq 77 ]; then echo "test-dist: SKIPPED"; else exit $$rc; fi

# scripts/container.sh exits non-zero when the build or any smoke check fails.
container-test:
	@JOBS=$(JOBS) scripts/container.sh

bench: build
	@scripts/deps.sh bench
	@bench/run-all.sh $(BUILD)/leanpix

SCALE ?= 1
bench-reference: build
	@scripts/deps.sh bench
	@bench/reference-batch.sh --scale $(SCALE) $(BUILD)/leanpix

clean:
	rm -rf build build-asan build-tsan build-release build-clang build-package
