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
           python3 xxd libsystemd-dev systemd python3-jsonschema \
           libhpdf-dev qpdf poppler-utils faketime man-db groff-base

WARN    := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wshadow -Wvla -Wwrite-strings
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
OPT     ?= -O2 -g
INCS    := -Iinclude -Iutil -Ipolicy -Iaudit -Iengine -Icompliance -Icli
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -DHDB_PROFILE_DIR=\"$(DATADIR)/heliosdb/profiles\" \
             $(OPT) $(WARN) $(HARDEN) $(INCS) $(PKG_CFLAGS) $(CFLAGS)
LDHARDEN := -Wl,-z,relro,-z,now
LIBS     = $(PKG_LIBS) -lpthread
# the reporter (compliance/) is linked into the tool only: the library does not need libharu
REPORT_LIBS := -lhpdf -lm

LIB_SRCS := $(sort $(wildcard util/*.c policy/*.c audit/*.c engine/*.c))
CLI_SRCS := $(sort $(wildcard cli/*.c compliance/*.c))
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
	$(CC) -pie $(LDHARDEN) -o $@ $(CLI_OBJS) libheliosdb.a $(LIBS) $(REPORT_LIBS)

$(B)/tests/%: tests/unit/%.c libheliosdb.a tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Itests/unit -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS) -lcmocka

$(B)/tests-asan/%: tests/unit/%.c $(ASAN_OBJS) tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN) -Wno-missing-prototypes -Itests/unit -o $@ $< $(ASAN_OBJS) $(LIBS) -lcmocka

$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard compliance/*.c)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(INCS) $(PKG_CFLAGS) \
		-o $@ $< $(LIB_SRCS) $(wildcard compliance/*.c) $(LIBS) $(REPORT_LIBS)

$(B)/bench/%: tests/bench/%.c libheliosdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

examples/quickstart: examples/quickstart.c libheliosdb.a
	$(CC) $(CFLAGS_ALL) -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

$(B)/loadgen: tests/cli/loadgen.c libheliosdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)

test: deps
	@$(MAKE) --no-print-directory build $(TESTS) $(ASAN_TESTS) examples/quickstart $(TEST_EXTRA) \
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

# --- install ---
# make install   [PREFIX=/usr/local] [DESTDIR=]   (after `make`; depends on build)
# make uninstall [PREFIX=/usr/local] [DESTDIR=]   removes exactly what install put there
#
# PREFIX is compiled in (HDB_PROFILE_DIR, the profile directory): build and
# install with the same PREFIX.  Nothing is written to /etc or /var and
# nothing is run (no systemd-sysusers, tmpfiles, daemon-reload or ldconfig):
# docs/deployment.md has the steps that follow an installation.
# Systemd files go to $(PREFIX)/lib/...: systemd searches /usr/local/lib/systemd/system,
# /usr/local/lib/sysusers.d and /usr/local/lib/tmpfiles.d as well as /usr/lib/...
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
DATADIR        ?= $(PREFIX)/share
MANDIR         ?= $(DATADIR)/man
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
HDB_DATADIR     = $(DATADIR)/heliosdb
INSTALL        ?= install

HDB_VERSION    := $(shell sed -n 's/^\#define HDB_VERSION_STRING "\(.*\)"$$/\1/p' include/heliosdb.h)
HDB_SONAME     := libheliosdb.so.0
HDB_SOREAL     := libheliosdb.so.$(HDB_VERSION)
HDB_UNITS_IN   := $(wildcard systemd/*.service.in)
HDB_UNITS      := $(notdir $(HDB_UNITS_IN:.in=)) $(notdir $(wildcard systemd/*.timer))
HDB_PROFILES   := $(wildcard profiles/*.toml)
HDB_EXAMPLES   := $(wildcard examples/config/*.toml)
# relative to ${prefix} in heliosdb.pc when below PREFIX (so --define-variable=prefix works)
HDB_PC_LIBDIR  := $(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))
HDB_PC_INCDIR  := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
D              := $(DESTDIR)

.PHONY: install uninstall

install: build
	@test -n "$(HDB_VERSION)" || { echo "install: no HDB_VERSION_STRING in include/heliosdb.h" >&2; exit 1; }
	$(INSTALL) -d -m 0755 $(D)$(BINDIR) $(D)$(LIBDIR) $(D)$(INCLUDEDIR) $(D)$(PKGCONFIGDIR) \
		$(D)$(MANDIR)/man1 $(D)$(HDB_DATADIR)/profiles $(D)$(HDB_DATADIR)/examples \
		$(D)$(SYSTEMDUNITDIR) $(D)$(SYSUSERSDIR) $(D)$(TMPFILESDIR)
	$(INSTALL) -m 0755 heliosdb-nano $(D)$(BINDIR)/heliosdb-nano
	$(INSTALL) -m 0644 libheliosdb.a $(D)$(LIBDIR)/libheliosdb.a
	$(INSTALL) -m 0644 libheliosdb.so $(D)$(LIBDIR)/$(HDB_SOREAL)
	ln -sfn $(HDB_SOREAL) $(D)$(LIBDIR)/$(HDB_SONAME)
	ln -sfn $(HDB_SONAME) $(D)$(LIBDIR)/libheliosdb.so
	$(INSTALL) -m 0644 include/heliosdb.h $(D)$(INCLUDEDIR)/heliosdb.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(HDB_PC_LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(HDB_PC_INCDIR)|g' -e 's|@VERSION@|$(HDB_VERSION)|g' \
		include/heliosdb.pc.in >$(D)$(PKGCONFIGDIR)/heliosdb.pc
	chmod 0644 $(D)$(PKGCONFIGDIR)/heliosdb.pc
	$(INSTALL) -m 0644 docs/heliosdb-nano.1 $(D)$(MANDIR)/man1/heliosdb-nano.1
	$(if $(HDB_PROFILES),$(INSTALL) -m 0644 $(HDB_PROFILES) $(D)$(HDB_DATADIR)/profiles/)
	$(if $(HDB_EXAMPLES),$(INSTALL) -m 0644 $(HDB_EXAMPLES) $(D)$(HDB_DATADIR)/examples/)
	$(INSTALL) -m 0644 systemd/heliosdb.toml.example $(D)$(HDB_DATADIR)/examples/heliosdb.toml
	for u in $(notdir $(HDB_UNITS_IN:.in=)); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' systemd/$$u.in >$(D)$(SYSTEMDUNITDIR)/$$u && \
		chmod 0644 $(D)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 0644 $(wildcard systemd/*.timer) $(D)$(SYSTEMDUNITDIR)/
	$(INSTALL) -m 0644 systemd/sysusers.d/heliosdb.conf $(D)$(SYSUSERSDIR)/heliosdb.conf
	$(INSTALL) -m 0644 systemd/tmpfiles.d/heliosdb.conf $(D)$(TMPFILESDIR)/heliosdb.conf
	@if grep -l '@[A-Z]*@' $(D)$(PKGCONFIGDIR)/heliosdb.pc $(addprefix $(D)$(SYSTEMDUNITDIR)/,$(HDB_UNITS)); then \
		echo "install: unsubstituted @VARIABLE@ in the files above" >&2; exit 1; fi

uninstall:
	rm -f $(D)$(BINDIR)/heliosdb-nano
	rm -f $(D)$(LIBDIR)/libheliosdb.a $(D)$(LIBDIR)/$(HDB_SOREAL) $(D)$(LIBDIR)/$(HDB_SONAME) \
		$(D)$(LIBDIR)/libheliosdb.so
	rm -f $(D)$(INCLUDEDIR)/heliosdb.h $(D)$(PKGCONFIGDIR)/heliosdb.pc $(D)$(MANDIR)/man1/heliosdb-nano.1
	rm -f $(addprefix $(D)$(HDB_DATADIR)/profiles/,$(notdir $(HDB_PROFILES)))
	rm -f $(addprefix $(D)$(HDB_DATADIR)/examples/,$(notdir $(HDB_EXAMPLES)) heliosdb.toml)
	rm -f $(addprefix $(D)$(SYSTEMDUNITDIR)/,$(HDB_UNITS))
	rm -f $(D)$(SYSUSERSDIR)/heliosdb.conf $(D)$(TMPFILESDIR)/heliosdb.conf
	-rmdir $(D)$(HDB_DATADIR)/profiles $(D)$(HDB_DATADIR)/examples $(D)$(HDB_DATADIR) 2>/dev/null

# --- reporter ---
# The compliance reporter's extras (issue 5).  build/report_gen writes the
# signed logs of tests/cli/report.bats, tests/bench/bench_report.sh and the
# sample report (report.bats and the bench also build it on demand).
$(B)/report_gen: tests/cli/report_gen.c libheliosdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -pie $(LDHARDEN) -o $@ $< libheliosdb.a $(LIBS)
TEST_EXTRA += $(B)/report_gen

# docs/sample-report.pdf: a HIPAA report over two weeks of a generated,
# signed log (hipaa and pci-dss profiles), so readers can see what they get.
.PHONY: docs-sample
docs-sample: deps
	@$(MAKE) --no-print-directory build $(B)/report_gen
	@rm -rf $(B)/sample && mkdir -p $(B)/sample
	@$(B)/report_gen $(B)/sample --records 3000 --days 14 --segments 2 --profiles hipaa,pci-dss >/dev/null
	@./heliosdb-nano audit-report --input $(B)/sample/audit.log --pubkey $(B)/sample/audit.pub --type hipaa \
		--from 2026-01-05 --to 2026-01-18 --output docs/sample-report.pdf
