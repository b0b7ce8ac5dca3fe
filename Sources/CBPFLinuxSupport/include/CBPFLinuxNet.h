// Network attachments the kernel does not list through bpf(2): XDP programs and tc filters, read and
// removed over rtnetlink (RTM_GETLINK/RTM_SETLINK, RTM_GETTFILTER/RTM_DELTFILTER), and tcx programs
// listed with BPF_PROG_QUERY. Written from the UAPI field layouts (linux/rtnetlink.h, if_link.h,
// pkt_cls.h, bpf.h); no kernel headers needed.
#ifndef CBPF_LINUX_NET_H
#define CBPF_LINUX_NET_H

#include "CBPFLinuxSupport.h"
#if defined(__linux__)
#include <sys/socket.h>
#include <linux/netlink.h>
#include <net/if.h>
#endif

/// One interface's XDP programs (0: none).
struct cbpf_xdp_entry {
    uint32_t ifindex;
    char name[16];
    uint8_t attached;        /* XDP_ATTACHED_*: 0 none, 1 driver, 2 generic (skb), 3 hardware, 4 several */
    uint32_t prog_id;        /* the one program, when a single mode is used */
    uint32_t drv_prog_id, skb_prog_id, hw_prog_id;
};

/// One tc BPF filter.
struct cbpf_tc_entry {
    uint32_t ifindex;
    uint32_t parent;         /* 0xfffffff2 ingress, 0xfffffff3 egress (clsact) */
    uint32_t handle;
    uint16_t priority;
    uint16_t protocol;       /* network order, as tc keeps it */
    uint32_t prog_id;
    char name[64];
};

#if defined(__linux__)
enum { CBPF_RTM_GETLINK = 18, CBPF_RTM_SETLINK = 19, CBPF_RTM_DELTFILTER = 45, CBPF_RTM_GETTFILTER = 46 };
enum { CBPF_IFLA_IFNAME = 3, CBPF_IFLA_XDP = 43 };
enum { CBPF_IFLA_XDP_FD = 1, CBPF_IFLA_XDP_ATTACHED = 2, CBPF_IFLA_XDP_FLAGS = 3, CBPF_IFLA_XDP_PROG_ID = 4,
       CBPF_IFLA_XDP_DRV_PROG_ID = 5, CBPF_IFLA_XDP_SKB_PROG_ID = 6, CBPF_IFLA_XDP_HW_PROG_ID = 7 };
enum { CBPF_TCA_KIND = 1, CBPF_TCA_OPTIONS = 2, CBPF_TCA_BPF_NAME = 7, CBPF_TCA_BPF_ID = 11 };

struct cbpf_ifinfomsg { uint8_t family; uint8_t pad; uint16_t type; int32_t index; uint32_t flags; uint32_t change; };
struct cbpf_tcmsg { uint8_t family; uint8_t pad1; uint16_t pad2; int32_t ifindex; uint32_t handle; uint32_t parent; uint32_t info; };
struct cbpf_rtattr { uint16_t len; uint16_t type; };

#define CBPF_ALIGN4(n) (((n) + 3u) & ~3u)

static inline int cbpf_netlink_open(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

static inline void cbpf_rta_put(char *buffer, uint32_t *length, uint16_t type, const void *data, uint16_t size) {
    struct cbpf_rtattr *a = (struct cbpf_rtattr *)(buffer + *length);
    a->len = (uint16_t)(sizeof *a + size);
    a->type = type;
    if (size) memcpy(a + 1, data, size);
    *length += CBPF_ALIGN4(a->len);
}

/// Sends `message` and reads the answer: for a dump, calls `each` for every message until NLMSG_DONE;
/// otherwise waits for the ACK. 0 or -errno.
static inline int cbpf_netlink_talk(int fd, struct nlmsghdr *message,
                                    void (*each)(struct nlmsghdr *, void *), void *context) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, message, message->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    static __thread char reply[65536];
    for (;;) {
        long n = recv(fd, reply, sizeof reply, 0);
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (unsigned long)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != message->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(h);
                if (e->error != 0 || !(message->nlmsg_flags & NLM_F_DUMP)) return e->error;
                continue;
            }
            if (each) each(h, context);
        }
        if (!(message->nlmsg_flags & NLM_F_DUMP)) return 0;
    }
}

struct cbpf_xdp_dump_state { struct cbpf_xdp_entry *entries; int capacity; int count; };

static inline void cbpf_xdp_dump_one(struct nlmsghdr *h, void *context) {
    struct cbpf_xdp_dump_state *state = context;
    if (h->nlmsg_type != 16 /* RTM_NEWLINK */ || state->count >= state->capacity) return;
    struct cbpf_ifinfomsg *info = NLMSG_DATA(h);
    struct cbpf_xdp_entry entry;
    memset(&entry, 0, sizeof entry);
    entry.ifindex = (uint32_t)info->index;
    long left = (long)h->nlmsg_len - (long)NLMSG_LENGTH(sizeof *info);
    struct cbpf_rtattr *a = (struct cbpf_rtattr *)((char *)info + CBPF_ALIGN4(sizeof *info));
    while (left >= (long)sizeof *a && a->len >= sizeof *a && a->len <= left) {
        char *payload = (char *)(a + 1);
        int size = a->len - (int)sizeof *a;
        if (a->type == CBPF_IFLA_IFNAME) {
            memcpy(entry.name, payload, size < 15 ? size : 15);
        } else if ((a->type & 0x3fff) == CBPF_IFLA_XDP) {
            long inner = size;
            struct cbpf_rtattr *x = (struct cbpf_rtattr *)payload;
            while (inner >= (long)sizeof *x && x->len >= sizeof *x && x->len <= inner) {
                uint32_t value = 0;
                if (x->len >= sizeof *x + 4) memcpy(&value, x + 1, 4);
                switch (x->type) {
                case CBPF_IFLA_XDP_ATTACHED: entry.attached = *(uint8_t *)(x + 1); break;
                case CBPF_IFLA_XDP_PROG_ID: entry.prog_id = value; break;
                case CBPF_IFLA_XDP_DRV_PROG_ID: entry.drv_prog_id = value; break;
                case CBPF_IFLA_XDP_SKB_PROG_ID: entry.skb_prog_id = value; break;
                case CBPF_IFLA_XDP_HW_PROG_ID: entry.hw_prog_id = value; break;
                }
                inner -= CBPF_ALIGN4(x->len);
                x = (struct cbpf_rtattr *)((char *)x + CBPF_ALIGN4(x->len));
            }
        }
        left -= CBPF_ALIGN4(a->len);
        a = (struct cbpf_rtattr *)((char *)a + CBPF_ALIGN4(a->len));
    }
    state->entries[state->count++] = entry;
}

/// Every interface with its XDP programs; the number written, or -errno.
static inline int cbpf_net_xdp_dump(struct cbpf_xdp_entry *entries, int capacity) {
    int fd = cbpf_netlink_open();
    if (fd < 0) return fd;
    struct { struct nlmsghdr h; struct cbpf_ifinfomsg i; } request;
    memset(&request, 0, sizeof request);
    request.h.nlmsg_len = sizeof request;
    request.h.nlmsg_type = CBPF_RTM_GETLINK;
    request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.h.nlmsg_seq = 1;
    request.i.family = AF_UNSPEC;
    struct cbpf_xdp_dump_state state = { entries, capacity, 0 };
    int r = cbpf_netlink_talk(fd, &request.h, cbpf_xdp_dump_one, &state);
    close(fd);
    return r < 0 ? r : state.count;
}

/// Attaches `prog_fd` as an interface's XDP program over rtnetlink, as `ip link set dev IF xdp` does
/// (it stays until removed; no link holds it). `flags`: XDP_FLAGS_UPDATE_IF_NOEXIST 1, SKB_MODE 2,
/// DRV_MODE 4, HW_MODE 8. 0 or -errno.
static inline int cbpf_net_xdp_attach(int ifindex, int prog_fd, uint32_t flags) {
    int fd = cbpf_netlink_open();
    if (fd < 0) return fd;
    char buffer[256];
    memset(buffer, 0, sizeof buffer);
    struct nlmsghdr *h = (struct nlmsghdr *)buffer;
    struct cbpf_ifinfomsg *info = NLMSG_DATA(h);
    info->family = AF_UNSPEC;
    info->index = ifindex;
    uint32_t length = NLMSG_LENGTH(sizeof *info);
    struct cbpf_rtattr *nest = (struct cbpf_rtattr *)(buffer + length);
    uint32_t start = length;
    nest->type = CBPF_IFLA_XDP | 0x8000;
    length += sizeof *nest;
    int32_t program = prog_fd;
    cbpf_rta_put(buffer, &length, CBPF_IFLA_XDP_FD, &program, 4);
    if (flags) cbpf_rta_put(buffer, &length, CBPF_IFLA_XDP_FLAGS, &flags, 4);
    nest->len = (uint16_t)(length - start);
    h->nlmsg_len = length;
    h->nlmsg_type = CBPF_RTM_SETLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 5;
    int r = cbpf_netlink_talk(fd, h, 0, 0);
    close(fd);
    return r;
}

/// Removes the XDP program of `mode_flags` (XDP_FLAGS_SKB_MODE 2, DRV_MODE 4, HW_MODE 8, or 0) from
/// an interface, as `ip link set dev IF xdp off` does: an attach of fd -1. 0 or -errno.
static inline int cbpf_net_xdp_detach(int ifindex, uint32_t mode_flags) {
    return cbpf_net_xdp_attach(ifindex, -1, mode_flags);
}

struct cbpf_tc_dump_state { struct cbpf_tc_entry *entries; int capacity; int count; uint32_t ifindex; uint32_t parent; };

static inline void cbpf_tc_dump_one(struct nlmsghdr *h, void *context) {
    struct cbpf_tc_dump_state *state = context;
    if (h->nlmsg_type != 44 /* RTM_NEWTFILTER */ || state->count >= state->capacity) return;
    struct cbpf_tcmsg *tc = NLMSG_DATA(h);
    struct cbpf_tc_entry entry;
    memset(&entry, 0, sizeof entry);
    entry.ifindex = (uint32_t)tc->ifindex;
    entry.parent = tc->parent;
    entry.handle = tc->handle;
    entry.priority = (uint16_t)(tc->info >> 16);
    entry.protocol = (uint16_t)(tc->info & 0xffff);
    int isBPF = 0;
    long left = (long)h->nlmsg_len - (long)NLMSG_LENGTH(sizeof *tc);
    struct cbpf_rtattr *a = (struct cbpf_rtattr *)((char *)tc + CBPF_ALIGN4(sizeof *tc));
    while (left >= (long)sizeof *a && a->len >= sizeof *a && a->len <= left) {
        char *payload = (char *)(a + 1);
        int size = a->len - (int)sizeof *a;
        if (a->type == CBPF_TCA_KIND) {
            isBPF = size >= 3 && memcmp(payload, "bpf", 3) == 0;
        } else if ((a->type & 0x3fff) == CBPF_TCA_OPTIONS) {
            long inner = size;
            struct cbpf_rtattr *o = (struct cbpf_rtattr *)payload;
            while (inner >= (long)sizeof *o && o->len >= sizeof *o && o->len <= inner) {
                int osize = o->len - (int)sizeof *o;
                if (o->type == CBPF_TCA_BPF_ID && osize >= 4) memcpy(&entry.prog_id, o + 1, 4);
                if (o->type == CBPF_TCA_BPF_NAME) memcpy(entry.name, o + 1, osize < 63 ? osize : 63);
                inner -= CBPF_ALIGN4(o->len);
                o = (struct cbpf_rtattr *)((char *)o + CBPF_ALIGN4(o->len));
            }
        }
        left -= CBPF_ALIGN4(a->len);
        a = (struct cbpf_rtattr *)((char *)a + CBPF_ALIGN4(a->len));
    }
    if (isBPF && entry.prog_id) state->entries[state->count++] = entry;
}

/// The BPF filters of an interface's clsact hook `parent`; the number written, or -errno.
static inline int cbpf_net_tc_dump(int ifindex, uint32_t parent, struct cbpf_tc_entry *entries, int capacity) {
    int fd = cbpf_netlink_open();
    if (fd < 0) return fd;
    struct { struct nlmsghdr h; struct cbpf_tcmsg t; } request;
    memset(&request, 0, sizeof request);
    request.h.nlmsg_len = sizeof request;
    request.h.nlmsg_type = CBPF_RTM_GETTFILTER;
    request.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.h.nlmsg_seq = 3;
    request.t.family = AF_UNSPEC;
    request.t.ifindex = ifindex;
    request.t.parent = parent;
    struct cbpf_tc_dump_state state = { entries, capacity, 0, (uint32_t)ifindex, parent };
    int r = cbpf_netlink_talk(fd, &request.h, cbpf_tc_dump_one, &state);
    close(fd);
    return r < 0 ? r : state.count;
}

/// Deletes one tc filter (by its parent, priority, protocol and handle), as `tc filter del` does.
static inline int cbpf_net_tc_delete(int ifindex, uint32_t parent, uint16_t priority, uint16_t protocol, uint32_t handle) {
    int fd = cbpf_netlink_open();
    if (fd < 0) return fd;
    char buffer[256];
    memset(buffer, 0, sizeof buffer);
    struct nlmsghdr *h = (struct nlmsghdr *)buffer;
    struct cbpf_tcmsg *tc = NLMSG_DATA(h);
    tc->family = AF_UNSPEC;
    tc->ifindex = ifindex;
    tc->parent = parent;
    tc->handle = handle;
    tc->info = ((uint32_t)priority << 16) | protocol;
    uint32_t length = NLMSG_LENGTH(sizeof *tc);
    cbpf_rta_put(buffer, &length, CBPF_TCA_KIND, "bpf", 4);
    h->nlmsg_len = length;
    h->nlmsg_type = CBPF_RTM_DELTFILTER;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 4;
    int r = cbpf_netlink_talk(fd, h, 0, 0);
    close(fd);
    return r;
}

/// BPF_PROG_QUERY on an interface for `attach_type` (tcx ingress/egress): program ids into `ids`,
/// their number into `*count` (in: the capacity). 0 or -errno.
static inline int cbpf_prog_query_ifindex(uint32_t ifindex, uint32_t attach_type, uint32_t *ids, uint32_t *count) {
    struct {
        uint32_t target_fd; uint32_t attach_type; uint32_t query_flags; uint32_t attach_flags;
        CBPF_ALIGNED_U64 prog_ids; uint32_t prog_cnt; uint32_t pad;
        CBPF_ALIGNED_U64 prog_attach_flags; CBPF_ALIGNED_U64 link_ids; CBPF_ALIGNED_U64 link_attach_flags;
        CBPF_ALIGNED_U64 revision;
    } attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = ifindex;
    attr.attach_type = attach_type;
    attr.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.prog_cnt = *count;
    int64_t r = cbpf_bpf(16 /* BPF_PROG_QUERY */, &attr, sizeof attr);
    if (r < 0) return (int)r;
    *count = attr.prog_cnt;
    return 0;
}

/// BPF_TASK_FD_QUERY: what BPF program a process's fd (a perf event or raw tracepoint) runs.
/// 0 or -errno; `name` gets the tracepoint, function or file (NUL-terminated, truncated).
static inline int cbpf_task_fd_query(uint32_t pid, uint32_t fd, char *name, uint32_t name_len, uint32_t *prog_id,
                                     uint32_t *fd_type, uint64_t *probe_offset, uint64_t *probe_addr) {
    struct {
        uint32_t pid; uint32_t fd; uint32_t flags; uint32_t buf_len; CBPF_ALIGNED_U64 buf;
        uint32_t prog_id; uint32_t fd_type; CBPF_ALIGNED_U64 probe_offset; CBPF_ALIGNED_U64 probe_addr;
    } attr;
    memset(&attr, 0, sizeof attr);
    attr.pid = pid;
    attr.fd = fd;
    attr.buf_len = name_len;
    attr.buf = (uint64_t)(uintptr_t)name;
    int64_t r = cbpf_bpf(20 /* BPF_TASK_FD_QUERY */, &attr, sizeof attr);
    if (r < 0) return (int)r;
    *prog_id = attr.prog_id;
    *fd_type = attr.fd_type;
    *probe_offset = attr.probe_offset;
    *probe_addr = attr.probe_addr;
    return 0;
}
#endif

#endif
