# firefly-c: one hand-written Makefile. Objects under build/, binaries under bin/.
#   make          build everything          make run     deps + build + bin/master config.json
#   make test     deps + build + all tests  make asan    the tests under ASan + UBSan
#   make bench    load figures              make format / format-check / deps / clean
#   make fuzz     every fuzz target for FUZZ_SECONDS (clang + libFuzzer; docs/fuzzing.md)

CC      ?= gcc
PKGS    := libuv jansson cmocka msgpack libmariadb libmemcached libsodium
DEBS    := gcc make pkg-config libuv1-dev libjansson-dev libmsgpack-dev libcmocka-dev \
           libhttp-parser-dev libsodium-dev clang-format libmariadb-dev libmemcached-dev memcached \
           mariadb-server mariadb-client clang libclang-rt-14-dev
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wshadow
OPT     ?= -g -O2
SAN     ?=
ifeq ($(SANITIZER),1)
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     := -g -O1
endif
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   = $(shell pkg-config --libs libuv jansson libmariadb libmemcached libsodium 2>/dev/null)
CFLAGS  := $(CSTD) $(OPT) $(WARN) $(SAN) -Iinclude -Icommon -Iclient -Idbfront -Ibot $(PKGCFLAGS) -MMD -MP
LDFLAGS := $(SAN)
LIBS     = $(PKGLIBS) -lhttp_parser -ldl -lpthread -lm

B := build

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
CLIENT_SRC := $(filter-out client/ffcli.c,$(wildcard client/*.c))
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
ROLES      := master gate net game dbfront
ROLE_BINS  := $(ROLES:%=bin/%)
APPS       := $(notdir $(wildcard apps/*))
APP_LIBS   := $(APPS:%=$(B)/apps/lib%.so)
TAPPS      := $(notdir $(wildcard test/apps/*))
TAPP_LIBS  := $(TAPPS:%=$(B)/test/apps/lib%.so)
UNIT_SRC   := $(wildcard test/unit/*_test.c)
UNIT_BINS  := $(UNIT_SRC:test/unit/%.c=$(B)/test/unit/%)
ITEST_SRC  := $(wildcard test/integration/*_test.c)
ITEST_BINS := $(ITEST_SRC:test/integration/%.c=$(B)/test/integration/%)
IHARN_OBJ  := $(patsubst %.c,$(B)/%.o,$(filter-out $(ITEST_SRC),$(wildcard test/integration/*.c)))
BOT_OBJ    := $(patsubst %.c,$(B)/%.o,$(filter-out bot/main.c,$(wildcard bot/*.c)))
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_OBJ  := $(BENCH_SRC:%.c=$(B)/%.o)
# Fuzz targets, test/fuzz/<name>_fuzz.c: with gcc and test/fuzz/driver.c, a program that
# replays the target's corpus once (run by `make test`); with clang, a libFuzzer binary.
FUZZ_TARGETS := $(patsubst test/fuzz/%_fuzz.c,%,$(wildcard test/fuzz/*_fuzz.c))
FUZZ_RUNS    := $(FUZZ_TARGETS:%=$(B)/test/fuzz/%_fuzz)
FUZZ_HELP    := $(B)/test/fuzz/fuzz.o $(B)/test/fuzz/fixture.o

# Objects built on the way to a test binary (the harness's) are kept, not rebuilt per test.
.SECONDARY:
.PHONY: all tests run db-stop test asan bench fuzz fuzz-merge format format-check deps clean
all: $(ROLE_BINS) bin/ffcli bin/ffbench bin/bot $(APP_LIBS)

tests: all $(TAPP_LIBS) $(UNIT_BINS) $(ITEST_BINS) $(FUZZ_RUNS)

$(B)/libffcommon.a: $(COMMON_OBJ)
	ar rcs $@ $^
$(B)/libffclient.a: $(CLIENT_OBJ)
	ar rcs $@ $^
# dbfront's modules without main(), for its unit tests.
DBF_OBJ := $(patsubst %.c,$(B)/%.o,$(filter-out dbfront/main.c,$(wildcard dbfront/*.c)))
$(B)/libdbf.a: $(DBF_OBJ)
	ar rcs $@ $^
# The bot's modules without main(), for its unit tests.
$(B)/libbot.a: $(BOT_OBJ)
	ar rcs $@ $^

# Role binaries export their symbols (-rdynamic) so that app .so files resolve the
# firefly/app.h API against the process that loads them.
define ROLE_RULE
bin/$(1): $(patsubst %.c,$(B)/%.o,$(wildcard $(1)/*.c)) $(B)/libffcommon.a
	@mkdir -p bin
	$$(CC) $$(LDFLAGS) -rdynamic -o $$@ $$(filter %.o,$$^) $(B)/libffcommon.a $$(LIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_RULE,$(r))))

bin/ffcli: $(B)/client/ffcli.o $(B)/libffclient.a $(B)/libffcommon.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
bin/bot: $(B)/bot/main.o $(B)/libbot.a $(B)/libffclient.a $(B)/libffcommon.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
bin/ffbench: $(BENCH_OBJ) $(B)/libffclient.a $(B)/libffcommon.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The apps' wire protocols (apps/<app>/<app>_proto.h, test/apps/<app>/<app>_proto.h), also
# included by bin/bot, bin/ffbench and the tests as "<app>/<app>_proto.h".
APP_PROTO  := $(wildcard apps/*/*_proto.h test/apps/*/*_proto.h)
define APP_RULE
$(2)/lib$(notdir $(1)).so: $(wildcard $(1)/*.c) include/firefly/app.h $(APP_PROTO)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -Iapps -fPIC -shared -o $$@ $(wildcard $(1)/*.c)
endef
$(foreach a,$(wildcard apps/*),$(eval $(call APP_RULE,$(a),$(B)/apps)))
$(foreach a,$(wildcard test/apps/*),$(eval $(call APP_RULE,$(a),$(B)/test/apps)))

# net's pure per-address table, for its unit test.
$(B)/test/unit/iplimit_test.o: CFLAGS += -Inet
$(B)/test/unit/iplimit_test: $(B)/test/unit/iplimit_test.o $(B)/net/iplimit.o $(B)/libffcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)
# apphost's test hosts the test apps, which resolve firefly/app.h against the test binary.
$(B)/test/unit/apphost_test: $(B)/test/unit/apphost_test.o $(B)/libffcommon.a | $(TAPP_LIBS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)
$(B)/test/unit/%: $(B)/test/unit/%.o $(B)/libdbf.a $(B)/libbot.a $(B)/libffcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(shell pkg-config --libs cmocka msgpack 2>/dev/null)
$(B)/test/integration/%: $(B)/test/integration/%.o $(IHARN_OBJ) $(B)/libffclient.a $(B)/libffcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(B)/test/fuzz/%.o: CFLAGS += -Imaster -Itest/fuzz
$(B)/test/fuzz/%_fuzz: $(B)/test/fuzz/%_fuzz.o $(B)/test/fuzz/driver.o $(FUZZ_HELP) \
                       $(B)/master/webreq.o $(B)/libdbf.a $(B)/libbot.a $(B)/libffcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Tools and tests speak the apps' protocols (APP_PROTO); tests also the test apps'.
$(B)/bot/%.o $(B)/bench/%.o $(B)/test/%.o: CFLAGS += -Iapps
$(B)/bench/%.o $(B)/test/%.o: CFLAGS += -Itest/apps

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Debian packages: installed when missing (apt-get update once, then install), as root.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

# Private MariaDB + memcached under var/ (ignored by git), on ports clear of a system
# MariaDB (3306) and memcached (11211). Idempotent; they keep running between runs.
DB_PORT := 13306
MC_PORT := 11311

run: deps
	$(MAKE) all
	scripts/db.sh start var $(DB_PORT) $(MC_PORT)
	bin/master config.json

db-stop:
	scripts/db.sh stop var

test: deps
	$(MAKE) tests
	scripts/runtests.sh $(UNIT_BINS) $(FUZZ_RUNS) $(ITEST_BINS)

# Every process (nodes included) writes sanitizer reports to build/asan/; any report fails.
asan: deps
	$(MAKE) clean
	$(MAKE) SANITIZER=1 tests
	@mkdir -p $(B)/asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/$(B)/asan/report \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(B)/asan/report \
	  scripts/runtests.sh $(UNIT_BINS) $(FUZZ_RUNS) $(ITEST_BINS)
	@if ls $(B)/asan/report* >/dev/null 2>&1; then \
	  cat $(B)/asan/report*; echo "sanitizer reports above"; exit 1; fi

# Fuzzing with clang and libFuzzer, objects under build/fuzz/ (never mixed with gcc's): each
# target of FUZZ (default: all) runs for FUZZ_SECONDS from its corpus in the repo plus what
# earlier runs found, in build/fuzz/corpus-new/<name>/; any crash fails (scripts/fuzz.sh).
# `make fuzz-merge` minimizes corpus-new into the repo's corpus (libFuzzer -merge=1).
FUZZ_SECONDS ?= 60
FUZZ         ?= $(FUZZ_TARGETS)
FZ           := $(B)/fuzz
FUZZ_CC      := clang
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = $(CSTD) -g -O1 $(WARN) $(FUZZ_SAN) -Iinclude -Icommon -Idbfront -Ibot -Imaster -Iapps \
                -Itest/fuzz $(PKGCFLAGS) -MMD -MP
# What the targets link: an archive, so each takes only the objects it needs.
FUZZ_LIB_SRC := $(COMMON_SRC) master/webreq.c dbfront/wal.c dbfront/rows.c dbfront/schema.c \
                bot/opts.c test/fuzz/fuzz.c test/fuzz/fixture.c

$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FZ)/libfuzz.a: $(FUZZ_LIB_SRC:%.c=$(FZ)/%.o)
	ar rcs $@ $^
$(FZ)/%_fuzz: $(FZ)/test/fuzz/%_fuzz.o $(FZ)/libfuzz.a
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

fuzz: deps
	$(MAKE) $(FUZZ:%=$(FZ)/%_fuzz)
	scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ)

fuzz-merge: deps
	$(MAKE) $(FUZZ:%=$(FZ)/%_fuzz)
	scripts/fuzz.sh merge 0 $(FUZZ)

bench: deps
	$(MAKE) all $(B)/test/apps/libstorebench.so
	bin/ffbench --bin bin

FMT_SRC = $(shell find common master gate net game dbfront apps client bench bot test include \
            -name '*.[ch]' 2>/dev/null)
format:
	clang-format -i $(FMT_SRC)
format-check:
	clang-format --dry-run --Werror $(FMT_SRC)

clean:
	rm -rf $(B) bin

-include $(shell find $(B) -name '*.d' 2>/dev/null)
