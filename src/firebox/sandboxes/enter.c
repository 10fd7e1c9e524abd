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
 *   a[12 .. 12+C) cgroup procs files, then N pairs (fd, CLONE_NEW* type) in joining order
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
#include <unistd.h>

#define FIXED 12

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
    for (int cap = 0; cap <= a[9]; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) fail("drop capability");
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (setgroups(0, NULL) < 0 || setresgid(a[8], a[8], a[8]) < 0 ||
        setresuid(a[7], a[7], a[7]) < 0) /* clears the permitted and effective sets */
        fail("drop privileges");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs");
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* setresuid() cleared it */
    if (getppid() != 0) _exit(1); /* the zygote (outside this PID namespace) is gone */
    load_seccomp(seccomp);
}

int firebox_fork_runtime(const int *a, int n) {
    if (n < FIXED || n != FIXED + a[10] + 2 * a[11] || a[10] + a[11] > 56) return -EINVAL;
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
