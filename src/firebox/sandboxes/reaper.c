/*
 * firebox-reaper: what an environment's monitor and pid 1 become once the Python launcher has
 * built the sandbox. Both only wait; as Python processes they cost ~1.7 MB PSS each in
 * copy-on-write pages, as this program ~0.1 MB. The launcher execs it by descriptor, with
 * every descriptor it needs already open (it reads no files it did not get).
 *
 *   firebox-reaper init RUNTIME_PID STATUS_FD
 *       pid 1: deaf to signals, reaps every process, writes the runtime's wait status to
 *       STATUS_FD when the runtime ends and exits (which ends the PID namespace).
 *   firebox-reaper monitor CHILD_PID STATUS_FD CHANNEL_FD OOM_FD FAILCNT_FD READY_FD ASSIGN_FD
 *       outside pid 1: waits for it, sends the memory report over CHANNEL_FD, then exits the
 *       way the runtime did, so its parent sees the runtime's own status. A pre-built
 *       sandbox (READY_FD and ASSIGN_FD not -1) first waits for its function (see assign()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
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

static void fail(const char *what, pid_t child) {
    fprintf(stderr, "firebox sandbox: %s: %s\n", what, strerror(errno));
    kill(child, SIGKILL);
    _exit(126);
}

static void remount(const char *target, unsigned long flags, const char *data, pid_t child) {
    if (mount(NULL, target, NULL, MS_REMOUNT | flags, data) < 0) fail(target, child);
}

/*
 * Pre-built sandboxes: once pid 1 has built the root (READY_FD says "R"), wait for the job
 * from the server: a 4-byte big-endian length, then "PACKAGE\0TMP_MB\0ENVIRON". Bind the
 * package from the code store at /var/task, size /tmp, take the code store away entirely,
 * and hand ENVIRON (opaque here) to the waiting runtime over ASSIGN_FD. Returns without
 * assigning if pid 1 reported (or died) first; exits if the server lets the sandbox go.
 */
static void assign(pid_t child, int status_fd, int channel, int ready_fd, int assign_fd) {
    char ready = 0;
    ssize_t got = read(ready_fd, &ready, 1);
    close(ready_fd);
    if (got != 1 || ready != 'R') {
        close(assign_fd);
        return;
    }
    static char job[1 << 20];
    size_t have = 0, want = 0;
    for (;;) {
        struct pollfd fds[2] = {{channel, POLLIN, 0}, {status_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            fail("poll", child);
        }
        if (fds[1].revents) { /* pid 1 reported: nothing to assign to */
            close(assign_fd);
            return;
        }
        ssize_t n = recv(channel, job + have, sizeof job - have, 0);
        if (n == 0) _exit(0); /* the server let this pre-built environment go */
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("recv", child);
        }
        have += (size_t)n;
        if (have >= 4) {
            want = 4 + ((size_t)(unsigned char)job[0] << 24 | (size_t)(unsigned char)job[1] << 16 |
                        (size_t)(unsigned char)job[2] << 8 | (size_t)(unsigned char)job[3]);
            if (want > sizeof job) {
                errno = EMSGSIZE;
                fail("job", child);
            }
            if (have >= want) break;
        }
    }
    char *package = job + 4, *end = job + want;
    char *tmp_mb = memchr(package, 0, (size_t)(end - package));
    char *environ_ = tmp_mb ? memchr(tmp_mb + 1, 0, (size_t)(end - tmp_mb - 1)) : NULL;
    if (!environ_ || strchr(package, '/') || package[0] == 0 || package[0] == '.' ||
        tmp_mb - package > 255) {
        errno = EINVAL;
        fail("job", child);
    }
    tmp_mb++;
    environ_++;
    char path[300], options[64];
    snprintf(path, sizeof path, "/.code/%.255s", package);
    if (mount(path, "/var/task", NULL, MS_BIND | MS_REC, NULL) < 0) fail(path, child);
    remount("/var/task", MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL, child);
    snprintf(options, sizeof options, "size=%dm,mode=1777", number(tmp_mb));
    remount("/tmp", MS_NOSUID | MS_NODEV, options, child);
    if (umount2("/.code", MNT_DETACH) < 0) fail("umount /.code", child);
    remount("/", MS_BIND | MS_NOSUID | MS_NODEV, NULL, child);
    if (rmdir("/.code") < 0) fail("rmdir /.code", child); /* not even its name stays */
    remount("/", MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL, child);
    for (char *p = environ_; p < end;) {
        ssize_t n = write(assign_fd, p, (size_t)(end - p));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("hand over", child);
        p += n;
    }
    close(assign_fd);
}

static int monitor_main(pid_t child, int status_fd, int channel, int oom_fd, int failcnt_fd,
                        int ready_fd, int assign_fd) {
    int status;
    if (ready_fd >= 0) assign(child, status_fd, channel, ready_fd, assign_fd);
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
    if (argc == 9 && strcmp(argv[1], "monitor") == 0)
        return monitor_main(number(argv[2]), number(argv[3]), number(argv[4]), number(argv[5]),
                            number(argv[6]), number(argv[7]), number(argv[8]));
    fprintf(stderr, "usage: firebox-reaper init PID FD | monitor PID FD FD FD FD FD FD\n");
    return 2;
}
