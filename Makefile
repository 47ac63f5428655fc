# HeliosDB Nano - build, test, benchmark, demo.
#
#   make          libheliosdb.a, libheliosdb.so, heliosdb-nano
#   make test     unit tests (cmocka), CLI tests (bats), unit tests under
#                 ASan/UBSan, fuzz smoke runs; ends with "N passed, N failed"
#   make bench    benchmarks, ratios printed side by side
#   make demo     the quickstart on an embedded default
#   make deps     installs the Debian packages all of the above need
#
# Every top-level target except clean runs `deps` first, so a fresh Debian 12
# machine needs nothing else.

CC      ?= cc
CLANG   ?= clang
PKGS    := lmdb libcrypto libargon2 json-c libsystemd
DEBS    := build-essential pkg-config liblmdb-dev libssl-dev openssl libargon2-dev \
           libjson-c-dev libcmocka-dev bats lmdb-utils clang libclang-rt-14-dev jq \
           python3 xxd libsystemd-dev systemd python3-jsonschema

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wshadow -Wvla -Wwrite-strings
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
OPT     ?= -O2 -g
INCS    := -Iinclude -Iutil -Ipolicy -Iaudit -Iengine -Icli
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(INCS) $(PKG_CFLAGS) $(CFLAGS)
LDHARDEN := -Wl,-z,relro,-z,now
LIBS     = $(PKG_LIBS) -lpthread

LIB_SRCS := $(sort $(wildcard util/*.c policy/*.c audit/*.c engine/*.c))
CLI_SRCS := $(sort $(wildcard cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS := $(sort $(wildcard tests/bench/*.c))

B        := build
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(B)/asan/%.o)
TESTS    := $(TEST_SRCS:tests/unit/%.c=$(B)/tests/%)
ASAN_TESTS := $(TEST_SRCS:tests/unit/%.c=$(B)/tests-asan/%)
FUZZERS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)

ASAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all deps build test unit bench demo fuzz clean
.SECONDARY:
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory build

build: libheliosdb.a libheliosdb.so heliosdb-nano

deps:
	@./tests/deps.sh $(DEBS)

$(B)/obj/%.o: %.c include/heliosdb.h $(wildcard */*.h) $(wildcard */*.def)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/asan/%.o: %.c include/heliosdb.h $(wildcard */*.h) $(wildcard */*.def)
	@mkdir -p $(dir $@)
	@echo "  CC/ASAN $<"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN) -c $< -o $@

libheliosdb.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

libheliosdb.so: $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libheliosdb.so.0 $(LDHARDEN) -o $@ $^ $(LIBS)

heliosdb-nano: $(CLI_OBJS) libheliosdb.a
	$(CC) -pie $(LDHARDEN) -o $@ $(CLI_OBJS) libheliosdb.a $(LIBS)

$(B)/tests/%: tests/unit/%.c libheliosdb.a tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/unit -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS) -lcmocka

$(B)/tests-asan/%: tests/unit/%.c $(ASAN_OBJS) tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN) -Wno-missing-prototypes -Itests/unit -o $@ $< $(ASAN_OBJS) $(LIBS) -lcmocka

$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(INCS) $(PKG_CFLAGS) \
		-o $@ $< $(LIB_SRCS) $(LIBS)

$(B)/bench/%: tests/bench/%.c libheliosdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

examples/quickstart: examples/quickstart.c libheliosdb.a
	$(CC) $(CFLAGS_ALL) -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

$(B)/loadgen: tests/cli/loadgen.c libheliosdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

test: deps
	@$(MAKE) --no-print-directory build $(TESTS) $(ASAN_TESTS) examples/quickstart \
		$(if $(wildcard tests/cli/loadgen.c),$(B)/loadgen)
	@if command -v $(CLANG) >/dev/null 2>&1; then $(MAKE) --no-print-directory $(FUZZERS); fi
	@./tests/run.sh

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZERS)

bench: deps
	@$(MAKE) --no-print-directory build $(BENCH_SRCS:tests/bench/%.c=$(B)/bench/%)
	@./tests/bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory build examples/quickstart
	@./examples/demo.sh

clean:
	rm -rf $(B) libheliosdb.a libheliosdb.so heliosdb-nano examples/quickstart
