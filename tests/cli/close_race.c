/*
 * close_race.c - makes another process ship this one's closing checkpoint
 * first, on purpose, for tests/cli/audit.bats.
 *
 *   close_race DBDIR          open DBDIR and close it, with the race below
 *   close_race --hold DBDIR   open DBDIR, print "ready", close at stdin EOF
 *
 * Both use the default configuration: the key from HELIOSDB_ENCRYPTION_KEY,
 * audit on, journald best_effort.  At the point where the close has
 * committed its final checkpoint to the outbox but not yet shipped it
 * (TRAIL_TP_CLOSE_CHECKPOINTED), the first form starts the second and
 * waits for "ready": that process's open has shipped every record the log
 * lacked, this checkpoint included, and it keeps the database open (so the
 * outbox is not trimmed).  The close then finds the log ahead of it
 * (HDB_EBUSY) and must still return.  Exit 0 when both closed, 3 on an API
 * error.  The test runs it under `timeout`: a close that waits for journald
 * entries it never queued hangs instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heliosdb.h"
#include "engine_int.h"

static const char *g_dir;
static pid_t g_child = -1;
static int g_to_child = -1;
static bool g_ready;

void trail_test_point(int point)
{
	int in[2], out[2];
	if (point != TRAIL_TP_CLOSE_CHECKPOINTED || !g_dir || g_child >= 0 || pipe(in) || pipe(out))
		return;
	g_child = fork();
	if (g_child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/proc/self/exe", "close_race", "--hold", g_dir, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	g_to_child = in[1];
	char buf[16] = "";
	ssize_t n = g_child > 0 ? read(out[0], buf, sizeof(buf) - 1) : -1;
	g_ready = n == 6 && memcmp(buf, "ready\n", 6) == 0;
	close(out[0]);
}

static int open_db(const char *dir, struct hdb_config **cfg, struct hdb_db **db)
{
	int rc = hdb_config_new(cfg);
	if (!rc)
		rc = hdb_open(dir, *cfg, 0, db);
	if (rc)
		fprintf(stderr, "close_race: open '%s': %s\n", dir, *db ? hdb_errmsg(*db) : hdb_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	if (argc == 3 && strcmp(argv[1], "--hold") == 0) {
		if (open_db(argv[2], &cfg, &db) == HDB_OK) {
			char c;
			printf("ready\n");
			fflush(stdout);
			while (read(0, &c, 1) > 0)
				;
		}
		hdb_close(db);
		hdb_config_free(cfg);
		return db ? 0 : 3;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: close_race DBDIR | close_race --hold DBDIR\n");
		return 2;
	}
	g_dir = argv[1];
	if (open_db(g_dir, &cfg, &db)) {
		hdb_close(db);
		hdb_config_free(cfg);
		return 3;
	}
	hdb_close(db);   /* the race happens in here */
	hdb_config_free(cfg);
	int st = 0;
	if (g_to_child >= 0)
		close(g_to_child);
	bool child_ok = g_child > 0 && waitpid(g_child, &st, 0) == g_child && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("closed; the other process was %s and exited %s\n", g_ready ? "ready" : "NOT ready",
	       child_ok ? "cleanly" : "with an error");
	return g_ready && child_ok ? 0 : 3;
}
