#!/usr/bin/env bash
# journald.sh - gives the test suite a real journald.
#
#   tests/journald.sh start    use the running journald, or start one
#   tests/journald.sh stop     stop the journald that `start` started (only that one)
#   tests/journald.sh status   say which journald the tests would use; 1 if none
#
# When a journald is already listening on /run/systemd/journal/socket (a
# normal systemd machine), `start` and `stop` leave it alone.  Otherwise
# (containers, CI runners without systemd as PID 1) `start` runs
# /lib/systemd/systemd-journald in the background as root: it works
# without PID 1 being systemd once /run/systemd/journal exists.  It keeps
# its files in volatile storage (/run/log/journal), set by a drop-in under
# /run/systemd/journald.conf.d/ that `stop` removes again; the rate limit
# is left at its default, as production has it.
#
# The PID of the journald we started is kept in $PIDFILE, and `stop` kills
# that PID only after checking that it is still a systemd-journald.
# On success `start` prints one line: "journald: started (pid N)" or
# "journald: using the running one".  Errors go to stderr, exit status 1.
set -u

SOCK=/run/systemd/journal/socket
JOURNALD=${JOURNALD:-/lib/systemd/systemd-journald}
PIDFILE=${HDB_JOURNALD_PIDFILE:-/run/heliosdb-test-journald.pid}
DROPIN_DIR=/run/systemd/journald.conf.d
DROPIN=$DROPIN_DIR/50-heliosdb-test.conf
TIMEOUT_S=10

die() { echo "journald.sh: $*" >&2; exit 1; }

# our_pid - the PID from the pidfile if that process is still our journald.
our_pid() {
	local pid comm
	[ -r "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE" 2>/dev/null)
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[ "$comm" = "systemd-journal" ] || return 1   # comm is cut to 15 characters
	echo "$pid"
}

# socket_live - a journald answers on the socket, not a stale socket file
# left by one that died: connect() to a datagram socket nobody listens on
# fails with ECONNREFUSED.  (logger --journald cannot tell: it exits 0.)
socket_live() {
	[ -S "$SOCK" ] || return 1
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])' "$SOCK" 2>/dev/null
		return $?
	fi
	pgrep -x systemd-journal >/dev/null 2>&1
}

start() {
	local pid i
	if pid=$(our_pid); then
		echo "journald: started (pid $pid)"
		return 0
	fi
	if socket_live; then
		echo "journald: using the running one"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "no journald is running at $SOCK and starting one needs root (run as root, or start systemd-journald)"
	[ -x "$JOURNALD" ] || die "no journald is running at $SOCK and $JOURNALD is missing (apt-get install systemd)"
	# journald names its files by machine id; containers often have none.
	if [ ! -s /etc/machine-id ]; then
		if command -v systemd-machine-id-setup >/dev/null 2>&1; then
			systemd-machine-id-setup >/dev/null 2>&1 || die "cannot create /etc/machine-id"
		else
			die "/etc/machine-id is missing and systemd-machine-id-setup is not installed"
		fi
	fi
	mkdir -p /run/systemd/journal /run/log/journal "$DROPIN_DIR" || die "cannot create /run/systemd/journal"
	rm -f "$SOCK"   # a stale socket from a journald that died: nobody listens on it
	printf '# written by heliosdb tests/journald.sh; removed by "journald.sh stop"\n[Journal]\nStorage=volatile\n' \
		>"$DROPIN" || die "cannot write $DROPIN"
	local logf
	logf=$(mktemp "${TMPDIR:-/tmp}/heliosdb-journald.XXXXXX") || die "cannot create a log file"
	# setsid: our own session, so ^C in the test run or the runner's process
	# group kill does not take it down mid-test; stop kills it by PID.
	# no inherited descriptors beyond 0-2: a bats run waits for its fd 3 to close
	setsid "$JOURNALD" </dev/null >"$logf" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	pid=$!
	echo "$pid" >"$PIDFILE" || { kill "$pid"; die "cannot write $PIDFILE"; }
	for ((i = 0; i < TIMEOUT_S * 10; i++)); do
		if [ -S "$SOCK" ]; then
			rm -f "$logf"
			echo "journald: started (pid $pid)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PIDFILE" "$DROPIN"
			echo "journald.sh: $JOURNALD exited before creating $SOCK; its output:" >&2
			cat "$logf" >&2; rm -f "$logf"
			exit 1
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	rm -f "$PIDFILE" "$DROPIN"
	echo "journald.sh: $JOURNALD (pid $pid) did not create $SOCK within ${TIMEOUT_S} s; its output:" >&2
	cat "$logf" >&2; rm -f "$logf"
	exit 1
}

stop() {
	local pid i
	if ! pid=$(our_pid); then
		rm -f "$PIDFILE"
		return 0            # not ours, or already gone: nothing to do
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	rm -f "$PIDFILE" "$DROPIN"
	rmdir "$DROPIN_DIR" 2>/dev/null
	# Its sockets stay behind; remove them unless someone else listens
	# now, so a later check does not take a dead socket for a journald.
	if ! socket_live; then
		rm -f "$SOCK" /run/systemd/journal/stdout /run/systemd/journal/dev-log \
			/run/systemd/journal/io.systemd.journal
	fi
	return 0
}

status() {
	local pid
	if pid=$(our_pid); then
		echo "journald: started by tests/journald.sh (pid $pid)"
	elif socket_live; then
		echo "journald: running (not ours)"
	else
		echo "journald: not running"
		return 1
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
