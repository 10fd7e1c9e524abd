/*
 * An environment's way out: a veth pair with one end on the server's bridge (host side,
 * created up and enslaved in one netlink request) and the other, eth0, inside the
 * environment's network namespace with an address and a default route via the bridge.
 * The server's nftables rules NAT it and keep environments from reaching each other (see
 * networks.py). Costs the kernel ~0.7 ms and no process, where slirp4netns costs a process
 * per environment (~3.5 ms of CPU to start, ~0.7 MB).
 *
 * Compiled into firebox-reaper with reaper.c: build mode runs it inline (the "outbound" step),
 * `firebox-reaper outbound PID ...` attaches a sandbox the Python launcher built, and
 * `firebox-reaper netns ...` makes namespaces ahead of time, veth and all (the server keeps
 * them until a build joins one: see netns_reserve.py).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct request {
    struct nlmsghdr header;
    char data[1024];
};

static struct rtattr *attr(struct request *req, unsigned short type, const void *value,
                           size_t len) {
    struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->header.nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(rta), value, len);
    req->header.nlmsg_len = NLMSG_ALIGN(req->header.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    return rta;
}

static void end(struct request *req, struct rtattr *nest) {
    nest->rta_len = (unsigned short)((char *)req + req->header.nlmsg_len - (char *)nest);
}

/* Creates HOST_IF (up, on the bridge) and its peer eth0 inside the namespace NS_FD. */
static int create_pair(int rtnl, int ns_fd, const char *host_if, unsigned bridge) {
    struct request req;
    memset(&req, 0, sizeof req);
    req.header.nlmsg_type = RTM_NEWLINK;
    req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    req.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    struct ifinfomsg *info = NLMSG_DATA(&req.header);
    info->ifi_family = AF_UNSPEC;
    info->ifi_flags = info->ifi_change = IFF_UP;
    attr(&req, IFLA_IFNAME, host_if, strlen(host_if) + 1);
    attr(&req, IFLA_MASTER, &bridge, sizeof bridge);
    struct rtattr *linkinfo = attr(&req, IFLA_LINKINFO, NULL, 0);
    attr(&req, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = attr(&req, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = attr(&req, VETH_INFO_PEER, NULL, 0);
    req.header.nlmsg_len += sizeof(struct ifinfomsg); /* the peer's, zeroed */
    unsigned fd = (unsigned)ns_fd;
    attr(&req, IFLA_IFNAME, "eth0", 5);
    attr(&req, IFLA_NET_NS_FD, &fd, sizeof fd);
    end(&req, peer);
    end(&req, data);
    end(&req, linkinfo);
    if (send(rtnl, &req, req.header.nlmsg_len, 0) < 0) return -1;
    char reply[4096];
    ssize_t n;
    while ((n = recv(rtnl, reply, sizeof reply, 0)) < 0 && errno == EINTR) {
    }
    struct nlmsghdr *answer = (struct nlmsghdr *)reply;
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || answer->nlmsg_type != NLMSG_ERROR) {
        errno = EPROTO;
        return -1;
    }
    int error = ((struct nlmsgerr *)NLMSG_DATA(answer))->error;
    if (error) {
        errno = -error;
        return -1;
    }
    return 0;
}

static void inet(struct sockaddr *sa, const char *address) {
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, address, &in->sin_addr);
}

/* In the namespace itself: eth0's address, eth0 up, the default route via the gateway. */
static int configure(const char *address, int prefix, const char *gateway) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "eth0");
    inet(&ifr.ifr_addr, address);
    int failed = ioctl(sock, SIOCSIFADDR, &ifr) < 0;
    inet(&ifr.ifr_netmask, "0.0.0.0");
    ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr =
        htonl(prefix ? 0xffffffffu << (32 - prefix) : 0);
    failed = failed || ioctl(sock, SIOCSIFNETMASK, &ifr) < 0;
    ifr.ifr_flags = IFF_UP | IFF_RUNNING;
    failed = failed || ioctl(sock, SIOCSIFFLAGS, &ifr) < 0;
    struct rtentry route;
    memset(&route, 0, sizeof route);
    inet(&route.rt_dst, "0.0.0.0");
    inet(&route.rt_genmask, "0.0.0.0");
    inet(&route.rt_gateway, gateway);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    failed = failed || ioctl(sock, SIOCADDRT, &route) < 0;
    int saved = errno;
    close(sock);
    errno = saved;
    return failed ? -1 : 0;
}

/*
 * RTNL: a netlink socket opened in the host's namespace (it stays bound there). The caller
 * is in the environment's namespace; returns -1 with errno set, after saying what failed.
 */
int outbound_attach(int rtnl, const char *host_if, unsigned bridge, const char *address,
                    int prefix, const char *gateway) {
    int ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0 || create_pair(rtnl, ns_fd, host_if, bridge) < 0) {
        fprintf(stderr, "firebox sandbox: no outbound network (create %s: %s)\n", host_if,
                strerror(errno));
        if (ns_fd >= 0) close(ns_fd);
        return -1;
    }
    close(ns_fd);
    if (configure(address, prefix, gateway) < 0) {
        fprintf(stderr, "firebox sandbox: no outbound network (configure eth0 %s: %s)\n",
                address, strerror(errno));
        return -1;
    }
    return 0;
}

int outbound_rtnl(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

/* firebox-reaper outbound PID HOST_IF BRIDGE_INDEX ADDRESS PREFIX GATEWAY */
int outbound_main(char **argv) {
    int rtnl = outbound_rtnl();
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/net", argv[0]);
    int ns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (rtnl < 0 || ns_fd < 0 || setns(ns_fd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "firebox sandbox: enter %s: %s\n", path, strerror(errno));
        return 1;
    }
    close(ns_fd);
    return outbound_attach(rtnl, argv[1], (unsigned)strtoul(argv[2], NULL, 10), argv[3],
                           atoi(argv[4]), argv[5]) < 0;
}

int loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_flags = IFF_UP | IFF_RUNNING;
    int failed = sock < 0 || ioctl(sock, SIOCSIFFLAGS, &ifr) < 0;
    if (sock >= 0) close(sock);
    return failed ? -1 : 0;
}

/* One byte over SOCK, with FD attached unless it is -1. */
int send_fds(int sock, char byte, const int *fds, int count) {
    char control[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (count > 2) count = 2;
    if (count > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int send_fd(int sock, char byte, int fd) { return send_fds(sock, byte, &fd, fd >= 0 ? 1 : 0); }

/* IPv6 off for NAME (in this process's network namespace): environments' way out is IPv4
   only, and a veth with IPv6 on sends DAD, router solicitations and MLD reports for seconds,
   which the bridge floods to every port (with a reserve of namespaces held, many). */
static void no_ipv6(const char *name) {
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!write(fd, "1", 1);
        close(fd);
    }
}

/*
 * firebox-reaper netns SOCKET_FD (HOST_IF BRIDGE_INDEX ADDRESS PREFIX GATEWAY)...
 * For each group: a new network namespace with loopback up and its veth attached, sent over
 * SOCKET_FD as "N" with the namespace's descriptor, or "F" alone if it could not be made
 * whole (said on stderr). The namespaces live on in the descriptors the server holds.
 */
int netns_main(int argc, char **argv) {
    /* Made ahead of need: cold starts in progress get the CPU first. */
    setpriority(PRIO_PROCESS, 0, 10);
    int sock = atoi(argv[0]), rtnl = outbound_rtnl();
    int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (rtnl < 0 || host < 0) {
        fprintf(stderr, "firebox netns: netlink or own namespace: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 1; i + 5 <= argc; i += 5) {
        int ns = -1;
        if (unshare(CLONE_NEWNET) < 0 || loopback_up() < 0) {
            fprintf(stderr, "firebox netns: new namespace: %s\n", strerror(errno));
        } else {
            no_ipv6("default"); /* eth0, made next, takes this namespace's defaults */
            if (outbound_attach(rtnl, argv[i], (unsigned)strtoul(argv[i + 1], NULL, 10),
                                argv[i + 2], atoi(argv[i + 3]), argv[i + 4]) == 0)
                ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
            if (setns(host, CLONE_NEWNET) == 0) no_ipv6(argv[i]); /* the host end */
        }
        if (send_fd(sock, ns >= 0 ? 'N' : 'F', ns) < 0) return 1; /* the server is gone */
        if (ns >= 0) close(ns);
    }
    return 0;
}
