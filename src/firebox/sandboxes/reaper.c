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
 *   firebox-reaper outbound PID HOST_IF BRIDGE_INDEX ADDRESS PREFIX GATEWAY
 *       gives PID's network namespace a way out through the server's bridge (outbound.c).
 *   firebox-reaper netns SOCKET_FD (HOST_IF BRIDGE_INDEX ADDRESS PREFIX GATEWAY)...
 *       makes network namespaces ahead of time, each with its veth, and sends them to the
 *       server over SOCKET_FD (outbound.c); the build step joinnet joins one.
 *   firebox-reaper build CHANNEL_FD SCRIPT_FD READY_FD ASSIGN_FD ROOT_FD
 *       builds a whole sandbox from the script the zygote wrote (see build_main() and
 *       builder.py), stays as its monitor, and pid 1 becomes its init. The zygote then forks
 *       only the runtime and joins it to the sandbox with setns: of the three processes of a
 *       sandbox, only the runtime is a copy of the zygote's (large) Python image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <linux/capability.h>

static int number(const char *text) { return (int)strtol(text, NULL, 10); }

/* outbound.c */
int outbound_rtnl(void);
int outbound_attach(int rtnl, const char *host_if, unsigned bridge, const char *address,
                    int prefix, const char *gateway);
int outbound_main(char **argv);
int netns_main(int argc, char **argv);
int loopback_up(void);
int send_fd(int sock, char byte, int fd);
int send_fds(int sock, char byte, const int *fds, int count);

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
    /* v1: memory.failcnt is a number, memory.oom_control has "oom_kill N" on its own line;
     * v2: memory.events has both ("oom_kill N", "max N"); without a cgroup, /dev/null. */
    char text[4096];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return -1;
    text[n] = 0;
    if (text[0] >= '0' && text[0] <= '9') return strtoll(text, NULL, 10);
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
 * from the server: a 4-byte big-endian length, then "PACKAGE\0OPT\0TMP_MB\0ENVIRON". Bind the
 * package from the code store at /var/task and OPT (the function's layers merged, or empty
 * for none) at /opt, size /tmp, take the code store away entirely,
 * and hand ENVIRON (opaque here) to the waiting runtime over ASSIGN_FD. Returns without
 * assigning if pid 1 reported (or died) first; exits if the server lets the sandbox go.
 */
static void assign(pid_t child, int status_fd, int channel, int ready_fd, int assign_fd) {
    if (ready_fd >= 0) {
        char ready = 0;
        ssize_t got = read(ready_fd, &ready, 1);
        close(ready_fd);
        if (got != 1 || ready != 'R') {
            close(assign_fd);
            return;
        }
    }
    static char job[1 << 20];
    size_t have = 0, want = 0;
    for (;;) {
        struct pollfd fds[2] = {{channel, POLLIN, 0}, {status_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            fail("poll", child);
        }
        if (fds[1].revents) { /* pid 1 reported (or a signal came): nothing to assign to */
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
    char *opt = memchr(package, 0, (size_t)(end - package));
    char *tmp_mb = opt ? memchr(opt + 1, 0, (size_t)(end - opt - 1)) : NULL;
    char *environ_ = tmp_mb ? memchr(tmp_mb + 1, 0, (size_t)(end - tmp_mb - 1)) : NULL;
    if (!environ_ || strchr(package, '/') || package[0] == 0 || package[0] == '.' ||
        opt - package > 255 || strchr(opt + 1, '/') || opt[1] == '.' || tmp_mb - opt > 256) {
        errno = EINVAL;
        fail("job", child);
    }
    opt++;
    tmp_mb++;
    environ_++;
    char path[300], options[64];
    snprintf(path, sizeof path, "/.code/%.255s", package);
    if (mount(path, "/var/task", NULL, MS_BIND | MS_REC, NULL) < 0) fail(path, child);
    remount("/var/task", MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL, child);
    if (opt[0]) { /* the layers: /opt is there already, empty, in the read-only root */
        snprintf(path, sizeof path, "/.code/%.255s", opt);
        if (mount(path, "/opt", NULL, MS_BIND | MS_REC, NULL) < 0) fail(path, child);
        remount("/opt", MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL, child);
    }
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

static void report_memory(int channel, int oom_fd, int failcnt_fd) {
    /* pivot_root moved this process into the sandbox's root too, so /tmp is its own. */
    char report[256];
    int len = 0;
    struct statvfs st;
    if (statvfs("/tmp", &st) == 0) {
        len += snprintf(report + len, sizeof report - (size_t)len, "tmp_bytes=%llu",
                        (unsigned long long)(st.f_blocks - st.f_bfree) * st.f_frsize);
        umount2("/tmp", MNT_DETACH); /* give /tmp's memory back before anything else */
    }
    long long oom = read_counter(oom_fd, "oom_kill"), hits = read_counter(failcnt_fd, "max");
    if (oom >= 0)
        len += snprintf(report + len, sizeof report - (size_t)len, "%soom_kills=%lld",
                        len ? ";" : "", oom);
    if (hits >= 0)
        len += snprintf(report + len, sizeof report - (size_t)len, "%slimit_hits=%lld",
                        len ? ";" : "", hits);
    if (len > 0) send(channel, report, (size_t)len, MSG_NOSIGNAL);
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
    report_memory(channel, oom_fd, failcnt_fd);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        kill(getpid(), sig);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/*
 * build mode. The script is a sequence of NUL-terminated tokens: an operation and its
 * arguments (builder.py writes it). The monitor runs the operations before "ns" (outside
 * the new PID and mount namespaces), pid 1 those after it:
 *   cgroup FD                    join a cgroup (writes "0", this process, to its procs file)
 *   counters OOM_FD FAILCNT_FD   the memory cgroup's counters, for the final report
 *   outbound HOST_IF BRIDGE_INDEX ADDRESS PREFIX GATEWAY
 *                                (before net) give the namespace net makes a veth to the bridge
 *   net PORT API_PORT            own network namespace, loopback up (and outbound attached),
 *                                the Runtime API listener on 127.0.0.1:PORT (and, API_PORT > 0,
 *                                the AWS API's on 127.0.0.1:API_PORT) sent to the server over
 *                                CHANNEL in one message: once it arrives, the network is ready
 *   joinnet FD PORT API_PORT     instead of outbound and net: join the namespace FD, made
 *                                ahead by netns mode; then the listener as net does
 *   ns                           new mount/PID/IPC/UTS namespaces; fork pid 1
 *   private | tmpfs DIR FLAGS DATA | bind SRC DST RO | symlink TARGET LINK |
 *   file PATH CONTENT | mkdir DIR | node PATH RDEV SOURCE | proc DIR | pivot ROOT |
 *   hostname NAME | user UID GID | userns UID GID (rootless: UID/GID in a user namespace of
 *   pid 1's own instead of setresuid)
 * The monitor passes pid 1's pid to READY_FD at once (the zygote forks the runtime into its
 * namespaces meanwhile). Pid 1 builds the root, drops to UID, writes 'R' and then only
 * reaps; the monitor then writes 'R' to ROOT_FD (the runtime waits on it before it
 * joins the mount namespace) and "R\n" to READY_FD. EOF on either: the build failed.
 * SIGTERM (the zygote: the runtime has ended) makes the monitor report memory and end it all.
 */
static char *script, *script_end;

static char *token(void) {
    if (script >= script_end) {
        fprintf(stderr, "firebox sandbox: truncated build script\n");
        _exit(126);
    }
    char *start = script;
    script += strlen(script) + 1;
    return start;
}

static void die(const char *what, const char *arg) {
    fprintf(stderr, "firebox sandbox: %s %s: %s\n", what, arg, strerror(errno));
    _exit(126);
}

static void write_proc(const char *name, const char *text) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/%s", name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write", path);
    close(fd);
}

/* Rootless: a user namespace of this process's own in which it is UID/GID, mapped to its
 * uid and gid outside (the only mapping an unprivileged process may write, and only once
 * setgroups is denied). It then has every capability there, none outside. */
static void nest_user(uid_t uid, gid_t gid) {
    uid_t outer_uid = geteuid();
    gid_t outer_gid = getegid();
    char map[64];
    if (unshare(CLONE_NEWUSER) < 0) die("unshare", "user");
    write_proc("setgroups", "deny");
    snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)outer_gid);
    write_proc("gid_map", map);
    snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)outer_uid);
    write_proc("uid_map", map);
}

/* Empties the effective, permitted and inheritable sets: setresuid() does so only when
 * leaving uid 0, which a rootless sandbox's processes never were in their namespace. */
static void clear_caps(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) < 0) die("capset", "empty");
}

static void mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
            *p = '/';
        }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
}

static void mkparent(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash && slash != buf) {
        *slash = 0;
        mkdirs(buf);
    }
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                     const char *data) {
    if (mount(src, dst, type, flags, data) < 0) die("mount", dst);
}

static void bind_op(const char *src, const char *dst, int read_only) {
    struct stat st;
    if (stat(src, &st) < 0) die("stat", src);
    if (S_ISDIR(st.st_mode)) {
        mkdirs(dst);
    } else {
        mkparent(dst);
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) die("create", dst);
        close(fd);
    }
    do_mount(src, dst, NULL, MS_BIND | MS_REC, NULL);
    if (read_only)
        do_mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

static char **outbound; /* the outbound step's arguments, for net_op */
static int outbound_fd = -1; /* a netlink socket in the host's network namespace */

static int listen_on(int port) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listener, 64) < 0)
        die("listen", "127.0.0.1");
    return listener;
}

/* The Runtime API's listener and (API_PORT > 0) the AWS API's, handed to the server at once. */
static void listen_op(int channel, int port, int api_port) {
    int fds[2] = {listen_on(port), -1};
    if (api_port > 0) fds[1] = listen_on(api_port);
    if (send_fds(channel, 'L', fds, api_port > 0 ? 2 : 1) < 0) die("send", "listener");
    close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
}

static void net_op(int channel, int port, int api_port) {
    if (unshare(CLONE_NEWNET) < 0) die("unshare", "net");
    if (loopback_up() < 0) die("configure", "lo");
    if (outbound) { /* on failure (said on stderr: the function's log) it has loopback only */
        outbound_attach(outbound_fd, outbound[0], (unsigned)strtoul(outbound[1], NULL, 10),
                        outbound[2], number(outbound[3]), outbound[4]);
        close(outbound_fd);
        outbound_fd = -1;
    }
    listen_op(channel, port, api_port);
}

/* Pid 1: everything after "ns". Returns once the root is built and privileges are gone. */
static void pid1_build(int done_fd, int alive_fd) {
    uid_t uid = 0;
    gid_t gid = 0;
    int drop = 0;
    while (script < script_end) {
        char *op = token();
        if (strcmp(op, "private") == 0) {
            do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        } else if (strcmp(op, "tmpfs") == 0) {
            char *dir = token(), *flags = token(), *data = token();
            mkdirs(dir);
            do_mount("tmpfs", dir, "tmpfs", strtoul(flags, NULL, 10), data);
        } else if (strcmp(op, "bind") == 0) {
            char *src = token(), *dst = token(), *ro = token();
            bind_op(src, dst, ro[0] == '1');
        } else if (strcmp(op, "symlink") == 0) {
            char *target = token(), *link = token();
            if (symlink(target, link) < 0) die("symlink", link);
        } else if (strcmp(op, "file") == 0) {
            char *path = token(), *content = token();
            mkparent(path);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            size_t len = strlen(content);
            if (fd < 0 || write(fd, content, len) != (ssize_t)len) die("write", path);
            close(fd);
        } else if (strcmp(op, "mkdir") == 0) {
            mkdirs(token());
        } else if (strcmp(op, "node") == 0) {
            char *path = token(), *rdev = token(), *source = token();
            if (mknod(path, S_IFCHR | 0666, (dev_t)strtoull(rdev, NULL, 10)) == 0) {
                if (chmod(path, 0666) < 0) die("chmod", path); /* whatever the umask took */
            } else if (errno == EPERM || errno == EACCES) {
                bind_op(source, path, 0); /* no CAP_MKNOD (user namespace, device cgroup) */
            } else {
                die("mknod", path);
            }
        } else if (strcmp(op, "proc") == 0) {
            char *dir = token();
            mkdirs(dir);
            do_mount("proc", dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        } else if (strcmp(op, "pivot") == 0) {
            char *root = token(), old[4096];
            snprintf(old, sizeof old, "%s/.old", root);
            mkdirs(old);
            if (syscall(SYS_pivot_root, root, old) < 0) die("pivot_root", root);
            if (chdir("/") < 0) die("chdir", "/");
            if (umount2("/.old", MNT_DETACH) < 0) die("umount", "/.old");
            if (rmdir("/.old") < 0) die("rmdir", "/.old");
            do_mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                     NULL);
        } else if (strcmp(op, "hostname") == 0) {
            char *name = token();
            if (sethostname(name, strlen(name)) < 0) die("sethostname", name);
        } else if (strcmp(op, "user") == 0 || strcmp(op, "userns") == 0) {
            drop = strcmp(op, "userns") == 0 ? 2 : 1;
            uid = (uid_t)strtoul(token(), NULL, 10);
            gid = (gid_t)strtoul(token(), NULL, 10);
        } else {
            errno = EINVAL;
            die("build step", op);
        }
    }
    if (drop) { /* an init that only reaps needs no privileges (as with the Python launcher) */
        if (drop == 2) nest_user(uid, gid); /* rootless: setgroups() is denied there */
        if ((drop == 1 && setgroups(0, NULL) < 0) || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
            die("drop", "privileges");
        clear_caps();
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the runtime has this uid: no /proc/1/mem */
    }
    /* Only now: the runtime, forked already and waiting for this, finds an unprivileged init. */
    if (write(done_fd, "R", 1) != 1) _exit(126);
    close(done_fd);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* setuid() cleared it */
    struct pollfd alive = {alive_fd, POLLIN, 0};
    if (poll(&alive, 1, 0) > 0) _exit(1); /* the monitor died before it was re-armed */
}

static void pid1_reap(void) {
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) signal(sig, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (;;) { /* the runtime is the zygote's child; orphans of the sandbox come here */
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        sigwaitinfo(&chld, NULL);
    }
}

static int build_main(int channel, int script_fd, int ready_fd, int assign_fd, int root_fd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) return 1; /* the zygote is already gone */
    signal(SIGPIPE, SIG_IGN); /* a pipe whose reader gave up is an error return, not a death */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL); /* read from a signalfd below, never lost */
    static char buffer[1 << 16];
    size_t have = 0;
    for (ssize_t n; (n = read(script_fd, buffer + have, sizeof buffer - have)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || have + (size_t)n >= sizeof buffer) die("read", "build script");
        have += (size_t)n;
    }
    close(script_fd);
    script = buffer;
    script_end = buffer + have;
    int oom_fd = -1, failcnt_fd = -1;
    for (;;) {
        char *op = token();
        if (strcmp(op, "cgroup") == 0) {
            char *fd = token();
            if (write(number(fd), "0", 1) != 1) die("join cgroup", fd);
            close(number(fd));
        } else if (strcmp(op, "counters") == 0) {
            oom_fd = number(token());
            failcnt_fd = number(token());
        } else if (strcmp(op, "outbound") == 0) {
            static char *args[5];
            for (int i = 0; i < 5; i++) args[i] = token();
            outbound = args;
            if ((outbound_fd = outbound_rtnl()) < 0) die("netlink", "socket");
        } else if (strcmp(op, "net") == 0) {
            int port = number(token());
            net_op(channel, port, number(token()));
        } else if (strcmp(op, "joinnet") == 0) { /* made ahead (netns mode), veth and all */
            int fd = number(token());
            if (setns(fd, CLONE_NEWNET) < 0) die("setns", "net");
            close(fd);
            int port = number(token());
            listen_op(channel, port, number(token()));
        } else if (strcmp(op, "ns") == 0) {
            break;
        } else {
            errno = EINVAL;
            die("build step", op);
        }
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        die("unshare", "namespaces");
    int done[2], alive[2];
    if (pipe2(done, O_CLOEXEC) < 0 || pipe2(alive, O_CLOEXEC) < 0) die("pipe", "");
    pid_t child = fork();
    if (child < 0) die("fork", "pid 1");
    if (child == 0) {
        close(done[0]);
        close(alive[1]);
        close(channel);
        close(ready_fd);
        close(root_fd);
        if (assign_fd >= 0) close(assign_fd);
        if (oom_fd >= 0) close(oom_fd);
        if (failcnt_fd >= 0) close(failcnt_fd);
        pid1_build(done[1], alive[0]);
        pid1_reap();
    }
    close(done[1]);
    close(alive[0]); /* alive[1] stays open as long as this monitor lives */
    /* Pid 1's pid now: the zygote forks the runtime while pid 1 builds the root, and the
       runtime waits on root_fd before it enters the mount namespace. */
    dprintf(ready_fd, "%d\n", (int)child);
    char built = 0;
    while (read(done[0], &built, 1) < 0 && errno == EINTR) {
    }
    close(done[0]);
    if (built != 'R') { /* pid 1 said why on stderr; the pipes' EOF tells the others */
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 126;
    }
    (void)!write(root_fd, "R", 1); /* fails only if no runtime waits: the zygote gave up */
    close(root_fd);
    dprintf(ready_fd, "R\n");
    close(ready_fd);
    int signals = signalfd(-1, &mask, SFD_CLOEXEC);
    if (signals < 0) die("signalfd", "");
    if (assign_fd >= 0) assign(child, signals, channel, -1, assign_fd);
    for (;;) {
        struct signalfd_siginfo info;
        if (read(signals, &info, sizeof info) != sizeof info) {
            if (errno == EINTR) continue;
            break;
        }
        if (info.ssi_signo == SIGTERM) break;
        if (waitpid(child, NULL, WNOHANG) == child) return 1; /* pid 1 died: the sandbox too */
    }
    report_memory(channel, oom_fd, failcnt_fd);
    kill(child, SIGKILL);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "init") == 0)
        return init_main(number(argv[2]), number(argv[3]));
    if (argc == 9 && strcmp(argv[1], "monitor") == 0)
        return monitor_main(number(argv[2]), number(argv[3]), number(argv[4]), number(argv[5]),
                            number(argv[6]), number(argv[7]), number(argv[8]));
    if (argc == 8 && strcmp(argv[1], "outbound") == 0) return outbound_main(argv + 2);
    if (argc >= 8 && (argc - 3) % 5 == 0 && strcmp(argv[1], "netns") == 0)
        return netns_main(argc - 2, argv + 2);
    if (argc == 7 && strcmp(argv[1], "build") == 0)
        return build_main(number(argv[2]), number(argv[3]), number(argv[4]), number(argv[5]),
                          number(argv[6]));
    fprintf(stderr, "usage: firebox-reaper init PID FD | monitor PID FD FD FD FD FD FD | "
                    "outbound PID IF INDEX ADDRESS PREFIX GATEWAY | netns FD (IF INDEX ADDRESS PREFIX "
                    "GATEWAY)... | build FD FD FD FD FD\n");
    return 2;
}
