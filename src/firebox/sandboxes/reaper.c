/*
 * firebox-reaper: what an environment's monitor and pid 1 become once the Python launcher has
 * built the sandbox. Both only wait; as Python processes they cost ~1.7 MB PSS each in
 * copy-on-write pages, as this program ~0.1 MB. The launcher execs it by descriptor, with
 * every descriptor it needs already open (it reads no files it did not get).
 *
 *   firebox-reaper init RUNTIME_PID STATUS_FD
 *       pid 1: deaf to signals, reaps every process, writes the runtime's wait status to
 *       STATUS_FD when the runtime ends and exits (which ends the PID namespace).
 *   firebox-reaper monitor CHILD_PID STATUS_FD CHANNEL_FD OOM_FD FAILCNT_FD
 *       outside pid 1: waits for it, sends the memory report over CHANNEL_FD, then exits the
 *       way the runtime did, so its parent sees the runtime's own status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

static int number(const char *text) { return (int)strtol(text, NULL, 10); }

static int init_main(pid_t runtime, int status_fd) {
    /* Not dumpable (exec reset it): the runtime shares this uid but may not read our memory. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) signal(sig, SIG_IGN);
    signal(SIGCHLD, SIG_DFL); /* ignoring it would make the kernel reap, hiding the status */
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR) continue;
            return 1; /* no children left: the runtime is gone without a status */
        }
        if (pid == runtime) {
            char text[32];
            int n = snprintf(text, sizeof text, "%d", status);
            if (write(status_fd, text, (size_t)n) < 0) return 1;
            return 0;
        }
    }
}

static long long read_counter(int fd, const char *key) {
    /* memory.failcnt is a number; memory.oom_control has "oom_kill N" on its own line. */
    char text[4096];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return -1;
    text[n] = 0;
    if (key == NULL) return strtoll(text, NULL, 10);
    size_t len = strlen(key);
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, len) == 0 && line[len] == ' ') return strtoll(line + len + 1, NULL, 10);
    return 0;
}

static int monitor_main(pid_t child, int status_fd, int channel, int oom_fd, int failcnt_fd) {
    int status;
    signal(SIGCHLD, SIG_DFL);
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) return 1;
    char reported[64];
    ssize_t n = read(status_fd, reported, sizeof reported - 1);
    if (n > 0) {
        reported[n] = 0;
        status = number(reported);
    }
    /* pivot_root moved this process into the sandbox's root too, so /tmp is its own. */
    char report[256];
    int len = 0;
    struct statvfs st;
    if (statvfs("/tmp", &st) == 0) {
        len += snprintf(report + len, sizeof report - (size_t)len, "tmp_bytes=%llu",
                        (unsigned long long)(st.f_blocks - st.f_bfree) * st.f_frsize);
        umount2("/tmp", MNT_DETACH); /* give /tmp's memory back before anything else */
    }
    long long oom = read_counter(oom_fd, "oom_kill"), hits = read_counter(failcnt_fd, NULL);
    if (oom >= 0)
        len += snprintf(report + len, sizeof report - (size_t)len, "%soom_kills=%lld",
                        len ? ";" : "", oom);
    if (hits >= 0)
        len += snprintf(report + len, sizeof report - (size_t)len, "%slimit_hits=%lld",
                        len ? ";" : "", hits);
    if (len > 0) send(channel, report, (size_t)len, MSG_NOSIGNAL);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        kill(getpid(), sig);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "init") == 0)
        return init_main(number(argv[2]), number(argv[3]));
    if (argc == 7 && strcmp(argv[1], "monitor") == 0)
        return monitor_main(number(argv[2]), number(argv[3]), number(argv[4]), number(argv[5]),
                            number(argv[6]));
    fprintf(stderr, "usage: firebox-reaper init PID FD | monitor PID FD FD FD FD\n");
    return 2;
}
