# libzmqobs - observability for ZeroMQ applications.
#
#   make              build lib/libzmqobs.a and lib/libzmqobs.so.X.Y.Z
#   make check        install missing dependencies, build and run all tests
#   make demo         run the demo service and print what it observed
#   make examples     build the examples against a staged install (pkg-config)
#   make bench        benchmarks (figures printed, nothing asserted)
#   make asan / tsan / memcheck   the whole suite under sanitizers / valgrind
#   make fuzz         run each fuzz target for a bounded time (FUZZ_RUNS, FUZZ_SECONDS)
#   make soak         minutes of traffic, churn and scrapes, then exact checks (SOAK_SECONDS)
#   make install / uninstall      honour PREFIX, LIBDIR, INCLUDEDIR, BINDIR, MANDIR,
#                                 CMAKEDIR, DESTDIR
#   make WERROR=0 ... turn -Werror off (for packagers)

VERSION_MAJOR := $(shell sed -n 's/^\#define ZMQOBS_VERSION_MAJOR \([0-9]*\).*/\1/p' include/zmqobs.h)
VERSION_MINOR := $(shell sed -n 's/^\#define ZMQOBS_VERSION_MINOR \([0-9]*\).*/\1/p' include/zmqobs.h)
VERSION_PATCH := $(shell sed -n 's/^\#define ZMQOBS_VERSION_PATCH \([0-9]*\).*/\1/p' include/zmqobs.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CMAKEDIR ?= $(LIBDIR)/cmake/libzmqobs

CC ?= cc
CXX ?= c++
WERROR ?= 1
PKG_CONFIG ?= pkg-config

ZMQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libzmq 2>/dev/null)
ZMQ_LIBS := $(shell $(PKG_CONFIG) --libs libzmq 2>/dev/null || echo -lzmq)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null || echo -lcheck)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes $(if $(filter 1,$(WERROR)),-Werror)
CXXWARN := -Wall -Wextra -Wshadow -Wpedantic -Wold-style-cast $(if $(filter 1,$(WERROR)),-Werror)
OPT ?= -O2 -g
# SAN is set by the sanitizer targets; the user's CFLAGS/LDFLAGS come last.
SAN ?=
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -Iinclude -Isrc \
             $(ZMQ_CFLAGS) $(WARN) $(OPT) $(SAN) $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LIBS = $(ZMQ_LIBS) -lpthread -lm

# Object directory: the default build uses build/ and puts the libraries in
# lib/; the sanitizer builds each use their own directory for everything.
OBJDIR ?= build
LIBOUT ?= lib

SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=$(OBJDIR)/src/%.o)
HDRS := include/zmqobs.h include/zmqobs_inline.h $(wildcard src/*.h)
TEST_SRCS := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRCS:tests/%.c=$(OBJDIR)/tests/%)
TEST_SCRIPTS := $(sort $(wildcard tests/test_*.sh))
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCHES := $(BENCH_SRCS:tests/bench/%.c=$(OBJDIR)/bench/%)
EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_CXX_SRCS := $(wildcard examples/*.cpp)

# The .pc file always carries the final prefix, never DESTDIR.
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
             -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g'

STATIC := $(LIBOUT)/libzmqobs.a
SHARED_REAL := $(LIBOUT)/libzmqobs.so.$(VERSION)
SHARED_SONAME := libzmqobs.so.$(VERSION_MAJOR)
SHARED := $(LIBOUT)/libzmqobs.so
PC := $(LIBOUT)/libzmqobs.pc

.PHONY: all lib check test-bins run-tests deps deps-build examples demo bench \
        asan tsan memcheck fuzz fuzz-bins fuzz-run soak install uninstall clean format symbols

all: lib

lib: $(STATIC) $(SHARED) $(PC)

deps:
	@./.ci/deps test

deps-build:
	@./.ci/deps build

$(OBJDIR)/src/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The status page's files are embedded into status.o (.incbin).
$(OBJDIR)/src/status.o: $(wildcard src/status_page.*)

$(STATIC): $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_REAL): $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,$(SHARED_SONAME) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(SHARED): $(SHARED_REAL)
	ln -sf libzmqobs.so.$(VERSION) $(LIBOUT)/$(SHARED_SONAME)
	ln -sf $(SHARED_SONAME) $@

$(PC): pkgconfig/libzmqobs.pc.in include/zmqobs.h
	@mkdir -p $(dir $@)
	$(PC_SED) $< > $@

# Tests link the static library, so they can reach internal functions.
$(OBJDIR)/tests/%: tests/%.c $(STATIC) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(CHECK_LIBS) $(LIBS)

$(OBJDIR)/bench/%: tests/bench/%.c $(STATIC) tests/bench/benchutil.h tests/alloc_count.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LIBS)

test-bins: $(TESTS)

# Every test program and script runs; the target fails if any failed.
# TEST_WRAP runs each C test under a tool (valgrind for memcheck).
TEST_WRAP ?=
run-tests: lib test-bins
	@fail=0; \
	for t in $(TESTS); do \
	    echo "== $$t"; \
	    if ! $(TEST_WRAP) $$t; then echo "FAILED: $$t"; fail=1; fi; \
	done; \
	for s in $(TEST_SCRIPTS); do \
	    echo "== $$s"; \
	    if ! OBJDIR=$(OBJDIR) LIBOUT=$(LIBOUT) CC="$(CC)" SAN="$(SAN)" TEST_WRAP="$(TEST_WRAP)" bash $$s; then \
	        echo "FAILED: $$s"; fail=1; fi; \
	done; \
	if [ $$fail -ne 0 ]; then echo "SOME TESTS FAILED"; exit 1; fi; \
	echo "ALL TESTS PASSED"

check: deps
	@$(MAKE) --no-print-directory run-tests

symbols: $(SHARED)
	@bad=$$(nm -D --defined-only $(SHARED_REAL) | awk '{print $$3}' | grep -v '^zmqobs_' || true); \
	if [ -n "$$bad" ]; then echo "non-zmqobs_ symbols exported:"; echo "$$bad"; exit 1; fi; \
	echo "exported symbols: all zmqobs_"

# Sanitizer builds run slower: Check's timeouts and the tests' watchdogs
# stretch by CK_TIMEOUT_MULTIPLIER (3 unless set).
asan:
	@./.ci/deps test
	@CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-3} $(MAKE) --no-print-directory OBJDIR=build/asan LIBOUT=build/asan/lib OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    run-tests

# libzmq itself is not instrumented: tests/tsan.supp silences reports from
# inside it (and only those), see the file.
tsan:
	@./.ci/deps test
	@TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp $${TSAN_OPTIONS:-}" \
	    CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-3} $(MAKE) --no-print-directory OBJDIR=build/tsan LIBOUT=build/tsan/lib OPT="-O1 -g" \
	    SAN="-fsanitize=thread" run-tests

memcheck:
	@./.ci/deps test
	@$(MAKE) --no-print-directory OBJDIR=build/memcheck LIBOUT=build/memcheck/lib \
	    TEST_WRAP="env CK_FORK=no CK_TIMEOUT_MULTIPLIER=20 ZMQOBS_UNDER_VALGRIND=1 valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 --suppressions=tests/valgrind.supp" \
	    run-tests

# Fuzzing with clang's libFuzzer, AddressSanitizer and UBSan. Each target
# runs until FUZZ_RUNS executions or FUZZ_SECONDS seconds, whichever comes
# first, starting from its seed corpus tests/fuzz/corpus_<target>/; new
# inputs go to build/fuzz/fuzz/corpus_<target>/. Any finding fails the
# target and leaves a reproducer in build/fuzz/fuzz/artifacts/. The
# defaults reach 10 million executions per target on a 2-core machine
# (about 30 minutes in all); CI runs each for a few seconds instead.
FUZZ_SECONDS ?= 1800
FUZZ_RUNS ?= 10000000
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(FUZZ_SRCS:tests/fuzz/%.c=$(OBJDIR)/fuzz/%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(OBJDIR)/fuzz/%: tests/fuzz/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) -fsanitize=fuzzer $(LIBS)

fuzz-bins: $(FUZZERS)

fuzz-run: fuzz-bins
	@bash tests/fuzz/run.sh "$(OBJDIR)" "$(FUZZ_SECONDS)" "$(FUZZ_RUNS)" $(FUZZERS)

fuzz:
	@./.ci/deps test
	@$(MAKE) --no-print-directory CC=clang OBJDIR=build/fuzz LIBOUT=build/fuzz/lib OPT="-O1 -g" \
	    SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-run

# Soak: several minutes of traffic, connection churn, failing handshakes,
# attach/detach churn and HTTP scrapes; every count checked at the end,
# open fds and RSS compared after warm-up and at the end. SOAK_SECONDS
# sets the length.
SOAK_SECONDS ?= 180
$(OBJDIR)/soak/soak: tests/soak.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LIBS)

soak: deps lib $(OBJDIR)/soak/soak
	$(OBJDIR)/soak/soak $(SOAK_SECONDS)

# C++ comparison benchmarks (prometheus-cpp), built only when installed.
PROMCPP := $(if $(wildcard /usr/include/prometheus/counter.h),$(OBJDIR)/bench/bench_promcpp)
$(OBJDIR)/bench/bench_promcpp: tests/bench/bench_promcpp.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -o $@ $< -lprometheus-cpp-core
# bench_format runs this one itself when it exists.
PROMCPP += $(if $(wildcard /usr/include/prometheus/text_serializer.h),$(OBJDIR)/bench/bench_format_promcpp)
$(OBJDIR)/bench/bench_format_promcpp: tests/bench/bench_format_promcpp.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -o $@ $< -lprometheus-cpp-core

bench: deps lib $(BENCHES) $(PROMCPP)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

# Examples build against a staged install, exactly as a user's program
# would: only pkg-config --cflags --libs libzmqobs, plus the system's
# libczmq for czmq_loop (queried without the staging sysroot). The C++
# ones (*.cpp, over cppzmq and zmqobs.hpp) build with $(CXX) as C++11.
STAGE := $(CURDIR)/build/stage
examples: lib
	@rm -rf $(STAGE)
	@$(MAKE) --no-print-directory install DESTDIR=$(STAGE) PREFIX=/usr >/dev/null
	@mkdir -p build/examples
	@set -e; for src in $(EXAMPLE_SRCS); do \
	    out=build/examples/$$(basename $$src .c); \
	    flags=$$(PKG_CONFIG_SYSROOT_DIR=$(STAGE) PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig \
	             $(PKG_CONFIG) --cflags --libs libzmqobs); \
	    case $$src in */czmq_loop.c) flags="$$flags $$($(PKG_CONFIG) --cflags --libs libczmq)";; esac; \
	    echo "  CC $$out"; \
	    $(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -o $$out $$src $$flags -Wl,-rpath,$(STAGE)/usr/lib -lpthread; \
	done
	@set -e; for src in $(EXAMPLE_CXX_SRCS); do \
	    out=build/examples/$$(basename $$src .cpp); \
	    flags=$$(PKG_CONFIG_SYSROOT_DIR=$(STAGE) PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig \
	             $(PKG_CONFIG) --cflags --libs libzmqobs); \
	    echo "  CXX $$out"; \
	    $(CXX) -std=c++11 $(CXXWARN) $(OPT) -o $$out $$src $$flags -Wl,-rpath,$(STAGE)/usr/lib -lpthread; \
	done

demo: deps
	@$(MAKE) --no-print-directory examples
	@bash examples/demo.sh

# A fleet of three hosts (network namespaces, or 127.0.0.x without root)
# scraped by a real Prometheus through file_sd, alerts through
# Alertmanager to a webhook; one host cut off and healed (tests/fleet.sh).
.PHONY: fleet
fleet: deps lib
	@OBJDIR=$(OBJDIR) LIBOUT=$(LIBOUT) CC="$(CC)" bash tests/fleet.sh

# The CMake package (pkgconfig/*.cmake.in) finds the prefix from where it
# is installed, so it stays right in a DESTDIR stage or a moved tree, when
# CMAKEDIR, LIBDIR and INCLUDEDIR are under PREFIX; otherwise it names
# them as absolute paths.
cmake_path = $(if $(filter $(PREFIX)/%,$(1)),$${_zmqobs_prefix}/$(patsubst $(PREFIX)/%,%,$(1)),$(1))
CMAKE_UP = $(if $(filter $(PREFIX)/%,$(CMAKEDIR)),$(shell \
    echo '$(patsubst $(PREFIX)/%,%,$(CMAKEDIR))' | sed 's|[^/][^/]*|..|g'))
SIZEOF_VOID_P = $(shell echo __SIZEOF_POINTER__ | $(CC) -E -P -x c - 2>/dev/null | tr -d ' ')
CMAKE_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@CMAKEDIR@|$(CMAKEDIR)|g' -e 's|@CMAKE_UP@|$(CMAKE_UP)|g' \
    -e 's|@CMAKE_LIBDIR@|$(call cmake_path,$(LIBDIR))|g' \
    -e 's|@CMAKE_INCLUDEDIR@|$(call cmake_path,$(INCLUDEDIR))|g' \
    -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
    -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g'

# The installed healthcheck tool: linked with the static library, so it
# runs from any prefix without a run-time path for libzmqobs.so.
HEALTHCHECK := $(OBJDIR)/bin/zmqobs-healthcheck
$(HEALTHCHECK): examples/healthcheck.c $(STATIC) include/zmqobs.h include/zmqobs_inline.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LIBS)

install: lib $(HEALTHCHECK)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(CMAKEDIR)
	install -m 755 $(HEALTHCHECK) $(DESTDIR)$(BINDIR)/zmqobs-healthcheck
	install -m 644 src/man/zmqobs-healthcheck.1 $(DESTDIR)$(MANDIR)/man1/zmqobs-healthcheck.1
	install -m 644 src/man/zmqobs.3 $(DESTDIR)$(MANDIR)/man3/zmqobs.3
	$(CMAKE_SED) pkgconfig/libzmqobs-config.cmake.in > $(DESTDIR)$(CMAKEDIR)/libzmqobs-config.cmake
	$(CMAKE_SED) pkgconfig/libzmqobs-config-version.cmake.in \
	    > $(DESTDIR)$(CMAKEDIR)/libzmqobs-config-version.cmake
	chmod 644 $(DESTDIR)$(CMAKEDIR)/libzmqobs-config.cmake $(DESTDIR)$(CMAKEDIR)/libzmqobs-config-version.cmake
	install -m 644 include/zmqobs.h $(DESTDIR)$(INCLUDEDIR)/zmqobs.h
	install -m 644 include/zmqobs_inline.h $(DESTDIR)$(INCLUDEDIR)/zmqobs_inline.h
	install -m 644 include/zmqobs.hpp $(DESTDIR)$(INCLUDEDIR)/zmqobs.hpp
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libzmqobs.a
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/libzmqobs.so.$(VERSION)
	ln -sf libzmqobs.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME)
	ln -sf $(SHARED_SONAME) $(DESTDIR)$(LIBDIR)/libzmqobs.so
	$(PC_SED) pkgconfig/libzmqobs.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libzmqobs.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/libzmqobs.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/zmqobs.h
	rm -f $(DESTDIR)$(INCLUDEDIR)/zmqobs_inline.h
	rm -f $(DESTDIR)$(INCLUDEDIR)/zmqobs.hpp
	rm -f $(DESTDIR)$(LIBDIR)/libzmqobs.a
	rm -f $(DESTDIR)$(LIBDIR)/libzmqobs.so.$(VERSION)
	rm -f $(DESTDIR)$(LIBDIR)/$(SHARED_SONAME)
	rm -f $(DESTDIR)$(LIBDIR)/libzmqobs.so
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/libzmqobs.pc
	rm -f $(DESTDIR)$(BINDIR)/zmqobs-healthcheck
	rm -f $(DESTDIR)$(MANDIR)/man1/zmqobs-healthcheck.1 $(DESTDIR)$(MANDIR)/man3/zmqobs.3
	rm -f $(DESTDIR)$(CMAKEDIR)/libzmqobs-config.cmake $(DESTDIR)$(CMAKEDIR)/libzmqobs-config-version.cmake
	rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

format:
	clang-format -i include/*.h include/*.hpp src/*.c src/*.h tests/*.c tests/*.h tests/*.cpp \
	    examples/*.c examples/*.h examples/*.cpp

clean:
	rm -rf build lib
