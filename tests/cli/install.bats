#!/usr/bin/env bats
# install.bats - `make install` / `make uninstall` (issue 6, section 1).
#
# Installs the tree built by `make` into a temporary DESTDIR and checks it:
# every file and its mode (and nothing else), the installed binary, the
# pkg-config file, a program built against the installed header and library
# (shared and static), the man page (renders without warnings, documents
# every verb and option the binary's --help shows), and that uninstall
# removes exactly what install put there.
#
# make runs with -o for the three build products: the tests install what
# `make test` has just built, and never rebuild sources that someone may be
# editing while the suite runs.  (That install depends on build is checked
# separately, from make's database.)

load helpers

MAKE_INSTALL=(make -C "$HDB_ROOT" --no-print-directory -o heliosdb-nano -o libheliosdb.a -o libheliosdb.so)

setup_file() {
	: "${HDB_ROOT:?HDB_ROOT must point at the repository root}"
	export D="$BATS_FILE_TMPDIR/dest"
	export P=/usr/local
	make -C "$HDB_ROOT" --no-print-directory -o heliosdb-nano -o libheliosdb.a -o libheliosdb.so \
		install DESTDIR="$D" >"$BATS_FILE_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/install.log" >&2; return 1; }
}

setup() {
	hdb_setup
	VERSION=$(sed -n 's/^#define HDB_VERSION_STRING "\(.*\)"$/\1/p' "$HDB_ROOT/include/heliosdb.h")
	[ -n "$VERSION" ]
	BIN="$D$P/bin/heliosdb-nano"
}

teardown() {
	hdb_teardown
}

# expected_files ROOT PREFIX - every path install must create below ROOT,
# one per line, "MODE TYPE PATH" (type f or l), sorted by path.
expected_files() {
	local r=$1 p=$2 f
	{
		echo "755 f $r$p/bin/heliosdb-nano"
		echo "644 f $r$p/include/heliosdb.h"
		echo "644 f $r$p/lib/libheliosdb.a"
		echo "777 l $r$p/lib/libheliosdb.so"
		echo "777 l $r$p/lib/libheliosdb.so.0"
		echo "644 f $r$p/lib/libheliosdb.so.$VERSION"
		echo "644 f $r$p/lib/pkgconfig/heliosdb.pc"
		echo "644 f $r$p/share/man/man1/heliosdb-nano.1"
		echo "644 f $r$p/share/heliosdb/examples/heliosdb.toml"
		for f in "$HDB_ROOT"/examples/config/*.toml; do
			[ -e "$f" ] && echo "644 f $r$p/share/heliosdb/examples/$(basename "$f")"
		done
		for f in "$HDB_ROOT"/profiles/*.toml; do
			[ -e "$f" ] && echo "644 f $r$p/share/heliosdb/profiles/$(basename "$f")"
		done
		for f in heliosdb-audit-retention.service heliosdb-audit-retention.timer \
			heliosdb-audit-review.service heliosdb-audit-review.timer; do
			echo "644 f $r$p/lib/systemd/system/$f"
		done
		echo "644 f $r$p/lib/sysusers.d/heliosdb.conf"
		echo "644 f $r$p/lib/tmpfiles.d/heliosdb.conf"
	} | sort -k3
}

# actual_files ROOT - every non-directory below ROOT, in the same format.
actual_files() {
	find "$1" ! -type d -printf '%m %y %p\n' | sort -k3
}

@test "install: installs every file with its mode, and nothing else" {
	run diff -u <(expected_files "$D" "$P") <(actual_files "$D")
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	# the shared library: real file, soname link, development link
	[ "$(readlink "$D$P/lib/libheliosdb.so.0")" = "libheliosdb.so.$VERSION" ]
	[ "$(readlink "$D$P/lib/libheliosdb.so")" = "libheliosdb.so.0" ]
	readelf -d "$D$P/lib/libheliosdb.so.$VERSION" | grep -F 'Library soname: [libheliosdb.so.0]'
	# the installed copies are the built ones
	cmp "$HDB_ROOT/heliosdb-nano" "$BIN"
	cmp "$HDB_ROOT/include/heliosdb.h" "$D$P/include/heliosdb.h"
	cmp "$HDB_ROOT/docs/heliosdb-nano.1" "$D$P/share/man/man1/heliosdb-nano.1"
	# directories are 0755, and the profile and example directories exist
	# even while there are none to install
	run find "$D" -type d ! -perm 0755 ! -path "$D"
	[ -z "$output" ] || { echo "directories not 0755: $output"; return 1; }
	[ -d "$D$P/share/heliosdb/profiles" ] && [ -d "$D$P/share/heliosdb/examples" ]
}

@test "install: depends on build" {
	run make -C "$HDB_ROOT" --no-print-directory -pn -o heliosdb-nano -o libheliosdb.a -o libheliosdb.so install
	grep -qx 'install: build' <<<"$output" || { grep '^install:' <<<"$output"; return 1; }
}

@test "install: the installed binary runs (--version, --help, a database)" {
	run "$BIN" --version
	[ "$status" -eq 0 ] && [ "$output" = "heliosdb-nano $VERSION" ] || { echo "$output"; return 1; }
	run "$BIN" --help
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	grep -q '^  keygen ' <<<"$output" && grep -q '^  audit-verify ' <<<"$output"
	HDB_BIN=$BIN
	hdbx init --path "$T/db"
	expect_status 0
	hdbx verify --path "$T/db" --check all
	expect_status 0
	hdbx stats --path "$T/db"
	expect_status 0
	expect_out_contains "data key"
}

@test "install: units and pkg-config file carry the installation paths, nothing left unsubstituted" {
	run grep -rlI '@[A-Z_]*@' "$D"
	[ "$status" -eq 1 ] || { echo "unsubstituted: $output"; return 1; }
	local u
	for u in "$D$P"/lib/systemd/system/*.service; do
		# every ExecStart= runs the installed binary (or a shell that does)
		grep '^ExecStart=' "$u" | grep -qF "$P/bin/heliosdb-nano " || { echo "$u"; return 1; }
		run grep '^ExecStart=' "$u"
		if grep -v -e "^ExecStart=$P/bin/heliosdb-nano " -e "^ExecStart=/bin/sh -c .*$P/bin/heliosdb-nano " <<<"$output"; then
			echo "$u: an ExecStart= that does not run $P/bin/heliosdb-nano"
			return 1
		fi
	done
	grep -qx "prefix=$P" "$D$P/lib/pkgconfig/heliosdb.pc"
	grep -qx "Version: $VERSION" "$D$P/lib/pkgconfig/heliosdb.pc"
}

@test "install: PREFIX and DESTDIR are honoured" {
	local d2="$T/dest2"
	run "${MAKE_INSTALL[@]}" install DESTDIR="$d2" PREFIX=/opt/heliosdb
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	run diff -u <(expected_files "$d2" /opt/heliosdb) <(actual_files "$d2")
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	grep -q '^ExecStart=/opt/heliosdb/bin/heliosdb-nano audit-retention ' \
		"$d2/opt/heliosdb/lib/systemd/system/heliosdb-audit-retention.service"
	grep -qx 'prefix=/opt/heliosdb' "$d2/opt/heliosdb/lib/pkgconfig/heliosdb.pc"
	run env PKG_CONFIG_PATH="$d2/opt/heliosdb/lib/pkgconfig" pkg-config --define-variable=prefix=/srv/x --libs heliosdb
	[ "$status" -eq 0 ] && grep -qF -- '-L/srv/x/lib' <<<"$output" || { echo "$output"; return 1; }
}

@test "install: pkg-config --cflags --libs points into the installed tree" {
	export PKG_CONFIG_PATH="$D$P/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
	run pkg-config --modversion heliosdb
	[ "$status" -eq 0 ] && [ "$output" = "$VERSION" ] || { echo "$output"; return 1; }
	run pkg-config --cflags --libs heliosdb
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	grep -qF -- "-I$D$P/include" <<<"$output" || { echo "$output"; return 1; }
	grep -qF -- "-L$D$P/lib -lheliosdb" <<<"$output" || { echo "$output"; return 1; }
	run pkg-config --static --libs heliosdb
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	for l in -llmdb -lcrypto -largon2 -ljson-c -lsystemd -lpthread; do
		grep -qF -- "$l" <<<"$output" || { echo "--static --libs lacks $l: $output"; return 1; }
	done
}

# a tiny program: creates an encrypted database, writes a value, reopens
# the database and reads the value back
write_app() {
	cat >"$T/app.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <heliosdb.h>

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "app: %s: %s\n", what, msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	struct hdb_principal who = { "installer", "local", "install.bats" };
	void *val = NULL;
	size_t len = 0;
	if (argc != 2)
		return 2;
	if (hdb_config_new(&cfg) != HDB_OK)
		return fail("config", "out of memory");
	for (int pass = 0; pass < 2; pass++) {
		if (hdb_open(argv[1], cfg, pass == 0 ? HDB_OPEN_CREATE : 0, &db) != HDB_OK)
			return fail("open", hdb_errmsg(db));
		if (hdb_session_open(db, &who, &s) != HDB_OK)
			return fail("session", hdb_errmsg(db));
		if (pass == 0 && hdb_kv_put(s, "ks", "k", 1, "installed", 9) != HDB_OK)
			return fail("put", hdb_session_errmsg(s));
		if (pass == 1 && hdb_kv_get(s, "ks", "k", 1, &val, &len) != HDB_OK)
			return fail("get", hdb_session_errmsg(s));
		hdb_session_close(s);
		hdb_close(db);
	}
	printf("%s %.*s\n", HDB_VERSION_STRING, (int)len, (const char *)val);
	hdb_free(val);
	hdb_config_free(cfg);
	return 0;
}
EOF
}

@test "install: a program builds and runs against the installed header and shared library" {
	write_app
	export PKG_CONFIG_PATH="$D$P/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
	# shellcheck disable=SC2046
	run cc -std=c11 -Wall -Werror -o "$T/app" "$T/app.c" $(pkg-config --cflags --libs heliosdb)
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	# it needs the installed library, found through its soname
	readelf -d "$T/app" | grep -F 'Shared library: [libheliosdb.so.0]'
	run env LD_LIBRARY_PATH="$D$P/lib" ldd "$T/app"
	grep -F "libheliosdb.so.0 => $D$P/lib/libheliosdb.so.0" <<<"$output" || { echo "$output"; return 1; }
	run env LD_LIBRARY_PATH="$D$P/lib" "$T/app" "$T/db"
	[ "$status" -eq 0 ] && [ "$output" = "$VERSION installed" ] || { echo "$output"; return 1; }
}

@test "install: a program links statically with pkg-config --static" {
	write_app
	export PKG_CONFIG_PATH="$D$P/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
	# shellcheck disable=SC2046
	run cc -std=c11 -Wall -Werror -o "$T/app" "$T/app.c" $(pkg-config --cflags heliosdb) \
		-Wl,-Bstatic -lheliosdb -Wl,-Bdynamic $(pkg-config --static --libs-only-L heliosdb) \
		$(pkg-config --static --libs heliosdb | sed 's/ -lheliosdb / /')
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	run readelf -d "$T/app"
	refute_in_text libheliosdb "$output"
	run "$T/app" "$T/db"
	[ "$status" -eq 0 ] && [ "$output" = "$VERSION installed" ] || { echo "$output"; return 1; }
}

@test "install: man -l renders the man page without warnings, and man finds it" {
	local page="$D$P/share/man/man1/heliosdb-nano.1"
	run bash -c "MANWIDTH=80 man --warnings -l '$page' 2>&1 >/dev/null"
	[ "$status" -eq 0 ] && [ -z "$output" ] || { echo "warnings: $output"; return 1; }
	run env MANWIDTH=80 man -l "$page"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	for s in NAME SYNOPSIS DESCRIPTION VERBS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
		grep -qx "$s" <<<"$output" || { echo "no section $s"; return 1; }
	done
	# installed where man looks for it
	run env MANPATH="$D$P/share/man" man -w heliosdb-nano
	[ "$status" -eq 0 ] && [ "$output" = "$page" ] || { echo "$output"; return 1; }
}

# man_section VERB - the source of the man page's ".SS VERB" subsection,
# with groff escapes for hyphens and fonts removed.
man_section() {
	local ss
	ss=$(printf '%s' "$1" | sed 's/-/\\\\-/g')
	awk -v h=".SS $ss" '$0 == h { on = 1; next } on && /^\.S[SH]/ { exit } on' \
		"$D$P/share/man/man1/heliosdb-nano.1" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g'
}

@test "install: the man page documents every verb and option of heliosdb-nano --help" {
	run "$BIN" --help
	[ "$status" -eq 0 ]
	local verbs
	verbs=$(sed -n '/^verbs:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' <<<"$output")
	# the help lists the verbs it lists; fewer than 10 means the parse broke
	[ "$(wc -l <<<"$verbs")" -ge 10 ] || { echo "verbs parsed: $verbs"; return 1; }
	local v o sec missing=""
	for v in $verbs; do
		sec=$(man_section "$v")
		if [ -z "$sec" ]; then
			missing+=" verb:$v"
			continue
		fi
		# every option the verb's own help shows
		for o in $("$BIN" "$v" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			[ "$o" = --help ] && continue
			grep -qF -- "$o" <<<"$sec" || missing+=" $v:$o"
		done
	done
	[ -z "$missing" ] || { echo "not in docs/heliosdb-nano.1:$missing"; return 1; }
}

@test "install: the example configurations are valid" {
	local f n=0
	for f in "$D$P"/share/heliosdb/examples/*.toml; do
		HELIOSDB_PROFILE_DIR="$D$P/share/heliosdb/profiles" hdbx config check --config "$f"
		expect_status 0
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
	grep -qx 'Credential = "heliosdb-master-key"' "$D$P/share/heliosdb/examples/heliosdb.toml"
}

@test "uninstall: removes exactly what install put there" {
	local d3="$T/dest3"
	mkdir -p "$d3$P/bin" "$d3$P/share/heliosdb/profiles"
	echo keep >"$d3$P/bin/other-tool"           # not ours: must stay
	echo keep >"$d3$P/share/heliosdb/profiles/local.toml"
	run "${MAKE_INSTALL[@]}" install DESTDIR="$d3"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ -x "$d3$P/bin/heliosdb-nano" ]
	run "${MAKE_INSTALL[@]}" uninstall DESTDIR="$d3"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	run bash -c "find '$d3' ! -type d | sort"
	[ "$output" = "$(printf '%s\n' "$d3$P/bin/other-tool" "$d3$P/share/heliosdb/profiles/local.toml" | sort)" ] ||
		{ echo "left behind (or removed what was not ours): $output"; return 1; }
	rm "$d3$P/share/heliosdb/profiles/local.toml"
	# and on a clean tree nothing at all is left, not even our directory
	run "${MAKE_INSTALL[@]}" install DESTDIR="$d3"
	run "${MAKE_INSTALL[@]}" uninstall DESTDIR="$d3"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	run find "$d3" ! -type d ! -name other-tool
	[ -z "$output" ] || { echo "left behind: $output"; return 1; }
	[ ! -e "$d3$P/share/heliosdb" ]
}
