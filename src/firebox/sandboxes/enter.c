/*
 * libfirebox-enter: how a zygote forks a Python runtime into a sandbox firebox-reaper built
 * (builder.py). The zygote loads it once with ctypes.PyDLL and makes one call per environment.
 *
 * Written in C rather than Python because every Python object a forked child touches is a
 * copy-on-write page fault (~3-4 us each on the VMs measured): in Python these steps took
 * ~1.4 ms of CPU and ~430 faults (the interpreter's at-fork hooks, threading's alone ~130, then
 * ~60 ctypes calls, 41 of them to drop the capability bounding set). Here the child touches no
 * Python object until it returns to Python, inside the sandbox, to start the runtime; the
 * runtime then reaches its first event with ~0.7 ms less CPU (it touches some of those pages
 * later anyway).
 *
 * The fork is glibc's fork(), not os.fork(): CPython's after-fork work exists for processes
 * with other threads (locks another thread held) and for the at-fork hooks, and the zygote has
 * one thread (builder.load() checks) and runs the one hook that matters, random's reseed,
 * itself in the child.
 *
 * int firebox_fork_runtime(const int *a, int n):
 *   a[0] pid namespace to fork into     a[1] the zygote's own, to come back to
 *   a[2] output (becomes 1 and 2)       a[3] root pipe: "R" once pid 1 has built the root
 *   a[4] seccomp program (BPF)          a[5] assignment pipe, kept open (-1: none)
 *   a[6] RLIMIT_NOFILE                  a[7] uid  a[8] gid  a[9] highest capability number
 *   a[10] number of cgroup procs files C, a[11] number of namespaces N
 *   a[12] rootless: 1 to become uid/gid in a user namespace of the child's own (setgroups is
 *   denied there), 0 to setresuid as root
 *   a[13 .. 13+C) cgroup procs files, then N pairs (fd, CLONE_NEW* type) in joining order
 *   (mnt last: it moves the root).
 * Returns the child's pid (in the caller's PID namespace) or -errno in the zygote, and 0 in
 * the child once it is inside: stdin /dev/null, stdout and stderr the output, no
 * capabilities, the seccomp filter loaded, and no descriptor but 0-2 and the assignment pipe.
 * A child that cannot get in says why on its stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXED 13

static void fail(const char *what) {
    dprintf(2, "firebox sandbox: the runtime failed to start: %s: %s\n", what, strerror(errno));
    _exit(1);
}

/* Closes every descriptor but those in keep (unsorted). */
static void close_others(const int *keep, int count) {
    int low = 0;
    for (;;) {
        int next = -1; /* the smallest kept descriptor at or above low */
        for (int i = 0; i < count; i++)
            if (keep[i] >= low && (next < 0 || keep[i] < next)) next = keep[i];
        unsigned last = next < 0 ? ~0U : (unsigned)next - 1;
        if (next != low && syscall(SYS_close_range, low, last, 0) < 0) /* before Linux 5.9 */
            for (int fd = low; fd < (next < 0 ? 1 << 20 : next); fd++) close(fd);
        if (next < 0) return;
        low = next + 1;
    }
}

static void load_seccomp(int fd) {
    static struct sock_filter program[4096]; /* BPF_MAXINSNS: the kernel takes no more */
    size_t size = 0;
    ssize_t got;
    while (size < sizeof program &&
           (got = read(fd, (char *)program + size, sizeof program - size)) > 0)
        size += (size_t)got;
    close(fd);
    struct sock_fprog prog = {.len = (unsigned short)(size / sizeof *program), .filter = program};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) fail("seccomp");
}

static void write_proc(const char *name, const char *text) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/%s", name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail(path);
    close(fd);
}

/* Rootless: one more user namespace, in which this process is uid/gid (mapped to the uid 0
 * of the sandbox's namespace, the server's user outside): no say over the sandbox's own
 * namespaces. The only mapping an unprivileged process may write for itself. */
static void nest_user(int uid, int gid) {
    unsigned outer_uid = (unsigned)geteuid(), outer_gid = (unsigned)getegid();
    char map[64];
    if (unshare(CLONE_NEWUSER) < 0) fail("unshare(user)");
    write_proc("setgroups", "deny");
    snprintf(map, sizeof map, "%d %u 1", gid, outer_gid);
    write_proc("gid_map", map);
    snprintf(map, sizeof map, "%d %u 1", uid, outer_uid);
    write_proc("uid_map", map);
}

static void enter(const int *a) {
    int output = a[2], root = a[3], seccomp = a[4], assign = a[5];
    int cgroups = a[10], namespaces = a[11];
    const int *cgroup = a + FIXED, *ns = a + FIXED + cgroups;
    setsid();
    signal(SIGCHLD, SIG_DFL); /* the zygote's handler would write to its wakeup pipe */
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0)
        fail("stdio");
    int keep[64], kept = 0; /* at most 6 + 56: firebox_fork_runtime() checked the counts */
    keep[kept++] = 0, keep[kept++] = 1, keep[kept++] = 2;
    keep[kept++] = root, keep[kept++] = seccomp;
    if (assign >= 0) keep[kept++] = assign;
    for (int i = 0; i < cgroups; i++) keep[kept++] = cgroup[i];
    for (int i = 0; i < namespaces; i++) keep[kept++] = ns[2 * i];
    close_others(keep, kept); /* nothing of the zygote's leaks inside */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    for (int i = 0; i < cgroups; i++) {
        if (write(cgroup[i], "0", 1) != 1) fail("join cgroup"); /* "0": this process */
        close(cgroup[i]);
    }
    for (int i = 0; i < namespaces; i++) {
        char ready = 0;
        if (ns[2 * i + 1] == CLONE_NEWNS && (read(root, &ready, 1) != 1 || ready != 'R'))
            _exit(1); /* pid 1 could not build the root (it said why) */
        if (setns(ns[2 * i], ns[2 * i + 1]) < 0) fail("setns");
        close(ns[2 * i]);
    }
    close(root);
    if (chdir("/") < 0) fail("chdir");
    struct rlimit files = {(rlim_t)a[6], (rlim_t)a[6]};
    if (setrlimit(RLIMIT_NOFILE, &files) < 0) fail("RLIMIT_NOFILE");
    if (a[12]) nest_user(a[7], a[8]);
    for (int cap = 0; cap <= a[9]; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) fail("drop capability");
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if ((!a[12] && setgroups(0, NULL) < 0) || setresgid(a[8], a[8], a[8]) < 0 ||
        setresuid(a[7], a[7], a[7]) < 0) /* leaving uid 0 clears permitted and effective */
        fail("drop privileges");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct none[2];
    memset(none, 0, sizeof none); /* rootless, uid 0 was never left: clear them explicitly */
    if (syscall(SYS_capset, &header, none) < 0) fail("capset");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs");
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* setresuid() cleared it */
    if (getppid() != 0) _exit(1); /* the zygote (outside this PID namespace) is gone */
    load_seccomp(seccomp);
}

/* Rootless: the zygote could enter the sandbox's PID namespace for its next child, but never
 * come back to its own (that one belongs to the host's user namespace), and every later
 * child would be born in the wrong one. So a child of the zygote enters it instead, forks
 * the runtime there and stays as its waiter, exiting the way the runtime did; the zygote
 * waits for that child. It touches no Python object: a few private pages. */
static int fork_rootless(const int *a) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return -errno;
    pid_t waiter = fork();
    if (waiter < 0) {
        int error = errno;
        close(report[0]), close(report[1]);
        return -error;
    }
    if (waiter == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        signal(SIGCHLD, SIG_DFL); /* the zygote's handler would write to its wakeup pipe */
        pid_t runtime = setns(a[0], CLONE_NEWPID) < 0 ? -1 : fork();
        if (runtime == 0) {
            close(report[0]), close(report[1]);
            enter(a);
            return 0; /* the runtime, inside: back to Python */
        }
        if (write(report[1], &runtime, sizeof runtime) != sizeof runtime || runtime < 0) _exit(1);
        close_others(NULL, 0);
        int status;
        while (waitpid(runtime, &status, 0) < 0)
            if (errno != EINTR) _exit(1);
        if (WIFSIGNALED(status)) {
            signal(WTERMSIG(status), SIG_DFL);
            prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
            kill(getpid(), WTERMSIG(status));
        }
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }
    close(report[1]);
    pid_t runtime = -1;
    ssize_t got = read(report[0], &runtime, sizeof runtime);
    close(report[0]);
    if (got != sizeof runtime || runtime < 0) return -ECHILD; /* the waiter said why on exit */
    return waiter;
}

int firebox_fork_runtime(const int *a, int n) {
    if (n < FIXED || n != FIXED + a[10] + 2 * a[11] || a[10] + a[11] > 56) return -EINVAL;
    if (a[12]) return fork_rootless(a);
    if (setns(a[0], CLONE_NEWPID) < 0) return -errno;
    pid_t pid = fork();
    if (pid == 0) {
        enter(a);
        return 0;
    }
    int error = errno;
    setns(a[1], CLONE_NEWPID); /* the zygote's next children are its own again */
    return pid < 0 ? -error : pid;
}
