#!/usr/bin/env python3
"""Ask the running kernel which program types may call each eBPF helper.

For every program type (and, where the kernel's helper set depends on it, every expected
attach type or attach target) this loads a two-instruction program, `call HELPER; exit`,
and reads the verifier's log: "invalid func" or "program of this type cannot use helper"
(older kernels: "unknown func") means the type does not get the helper; any other outcome
(success, or a complaint about the arguments) means it does. Each helper a type gets is
loaded a second time with a non-GPL license to see whether that type's prototype is
GPL-only. Names come from the kernel's own BTF (enum bpf_func_id, enum bpf_prog_type).

Run as root:  sudo python3 probe.py [--max-id N] [--by-type] [--no-gpl]
Output, one line per helper:  ID NAME: type type ... [gpl]   (see README.md)
"""

import argparse
import ctypes
import os
import platform
import struct
import sys

BPF_PROG_LOAD = 5
BPF_F_SLEEPABLE = 1 << 4
LOG_SIZE = 1 << 16

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "s390x": 351, "ppc64le": 361}[platform.machine()]


# --- BTF: just enough to find named funcs, typedefs, structs and enums in vmlinux ---------------

class BTF:
    def __init__(self, path="/sys/kernel/btf/vmlinux"):
        data = open(path, "rb").read()
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data)
        if magic != 0xEB9F:
            raise SystemExit(f"{path}: not BTF")
        strings = data[hdr_len + str_off:]
        self.name = lambda off: strings[off:strings.index(b"\0", off)].decode()
        self.types = [None]          # id 0 is void
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        extra = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v, 6: lambda v: 8 * v,
                 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v, 17: lambda v: 4, 19: lambda v: 12 * v}
        while pos < end:
            name_off, info, size = struct.unpack_from("<III", data, pos)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            body = pos + 12
            pos = body + extra.get(kind, lambda v: 0)(vlen)
            self.types.append((kind, name_off, vlen, data[body:pos]))
        self.by_name = {}
        for tid, t in enumerate(self.types[1:], 1):
            if t[1]:
                self.by_name.setdefault((t[0], self.name(t[1])), tid)

    def find(self, kind, name):
        return self.by_name.get((kind, name))

    def members(self, tid):
        kind, _, vlen, body = self.types[tid]
        return [self.name(struct.unpack_from("<III", body, 12 * i)[0]) for i in range(vlen)]

    def enumerators(self, name):
        tid = self.find(6, name)
        if tid is None:
            return {}
        _, _, vlen, body = self.types[tid]
        out = {}
        for i in range(vlen):
            off, val = struct.unpack_from("<Ii", body, 8 * i)
            out[val] = self.name(off)
        return out


FUNC, TYPEDEF, STRUCT = 12, 8, 4


# --- loading -----------------------------------------------------------------------------------

def load(prog_type, helper, license, attach=0, btf_id=0, flags=0, r0=0):
    """Load `call helper; exit` (helper 0: `r0 = R0; exit`); return (ok, verifier log, errno)."""
    if helper:
        insns = struct.pack("<BBhi", 0x85, 0, 0, helper) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    else:
        insns = struct.pack("<BBhi", 0xB7, 0, 0, r0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = ctypes.create_string_buffer(144)
    struct.pack_into("<IIQQIIQII", attr, 0, prog_type, 2, ctypes.addressof(insn_buf), ctypes.addressof(lic),
                     1, LOG_SIZE, ctypes.addressof(log), 0, flags)
    struct.pack_into("<I", attr, 68, attach)          # expected_attach_type
    struct.pack_into("<I", attr, 108, btf_id)         # attach_btf_id (vmlinux)
    fd = libc.syscall(SYS_BPF, BPF_PROG_LOAD, attr, len(attr))
    err = ctypes.get_errno()
    if fd >= 0:
        os.close(fd)
        return True, log.value.decode(errors="replace"), 0
    return False, log.value.decode(errors="replace"), err


REFUSED = ("invalid func ", "unknown func ", "cannot use helper")
GPL_REFUSED = "GPL-restricted"


def probe_variant(prog_type, variant, max_id, gpl_probe):
    """Helpers one (type, attach) variant gets, and which of them are GPL-only there."""
    license = "GPL"
    # the type loads at all with these settings (some attach types want 1 as their return value)
    if not any(load(prog_type, 0, license, r0=r0, **variant)[0] for r0 in (0, 1)):
        return None
    allowed, gpl = set(), set()
    for helper in range(1, max_id + 1):
        ok, log, err = load(prog_type, helper, license, **variant)
        if ok or not any(s in log for s in REFUSED):
            allowed.add(helper)
            if gpl_probe:
                ok, log, err = load(prog_type, helper, "Proprietary", **variant)
                if not ok and GPL_REFUSED in log:
                    gpl.add(helper)
    return allowed, gpl


def variants(btf):
    """Per program type number: the load settings whose helper sets are unioned, and whether a
    non-GPL program of that type can load at all (so GPL-only can be probed)."""
    fn = lambda name: btf.find(FUNC, name)
    out = {
        1: [{}], 2: [{}, {"attach": 42}, {"attach": 48}], 3: [{}, {"attach": 46}, {"attach": 47}], 4: [{}],
        5: [{}], 6: [{"attach": 37}, {"attach": 33}, {"attach": 35}], 7: [{}],
        8: [{"attach": 0}, {"attach": 1}], 9: [{"attach": a} for a in (2, 34, 12, 13)],
        10: [{}], 11: [{}], 12: [{}], 13: [{"attach": 3}], 14: [{"attach": a} for a in (4, 5, 38)],
        15: [{"attach": 6}], 16: [{"attach": 7}], 17: [{}],
        18: [{"attach": a} for a in (8, 9, 10, 11, 14, 15, 19, 20, 29, 30, 31, 32, 49, 50, 51, 52, 53)],
        19: [{}], 20: [{"attach": 16}], 21: [{"attach": 39}, {"attach": 40}], 22: [{"attach": 17}],
        23: [{"attach": 18}], 24: [{}], 25: [{"attach": 21}, {"attach": 22}],
        30: [{"attach": 36}], 31: [{}, {"flags": BPF_F_SLEEPABLE}], 32: [{"attach": 45}],
    }
    # tracing: fentry, fexit, fmod_ret, tp_btf, iter (task; tcp adds socket options), sleepable fentry/iter
    tracing = []
    for name, attach, flags in (("bpf_fentry_test1", 24, 0), ("bpf_fentry_test1", 25, 0),
                                ("bpf_modify_return_test", 26, 0), ("bpf_modify_return_test", 24, BPF_F_SLEEPABLE),
                                ("bpf_iter_task", 28, 0), ("bpf_iter_task", 28, BPF_F_SLEEPABLE),
                                ("bpf_iter_tcp", 28, 0)):
        if fn(name):
            tracing.append({"attach": attach, "btf_id": fn(name), "flags": flags})
    if btf.find(TYPEDEF, "btf_trace_sched_switch"):
        tracing.append({"attach": 23, "btf_id": btf.find(TYPEDEF, "btf_trace_sched_switch")})
    out[26] = tracing
    # lsm: a plain hook, a sleepable one, and lsm_cgroup (GPL-only program type)
    lsm = []
    for name, attach, flags in (("bpf_lsm_file_open", 27, 0), ("bpf_lsm_bprm_check_security", 27, BPF_F_SLEEPABLE),
                                ("bpf_lsm_file_open", 27, BPF_F_SLEEPABLE), ("bpf_lsm_socket_bind", 43, 0),
                                ("bpf_lsm_socket_post_create", 43, 0)):
        if fn(name):
            lsm.append({"attach": attach, "btf_id": fn(name), "flags": flags})
    out[29] = lsm
    # struct_ops: every member of every struct_ops the kernel may register (GPL-only program type)
    ops = []
    for name in ("tcp_congestion_ops", "bpf_dummy_ops", "sched_ext_ops", "hid_bpf_ops", "Qdisc_ops"):
        tid = btf.find(STRUCT, name)
        if tid:
            ops += [{"attach": i, "btf_id": tid} for i in range(len(btf.members(tid)))]
    out[27] = ops
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-id", type=int, help="last helper id to probe (default: the kernel's last)")
    ap.add_argument("--by-type", action="store_true", help="also print, per program type, its helper ids")
    ap.add_argument("--no-gpl", action="store_true", help="skip the non-GPL loads")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (loading programs of most types needs CAP_SYS_ADMIN)")

    btf = BTF()
    helpers = {i: "bpf_" + n[len("BPF_FUNC_"):] for i, n in btf.enumerators("bpf_func_id").items()
               if n.startswith("BPF_FUNC_") and i > 0 and not n.startswith("BPF_FUNC___")}
    prog_types = {i: n[len("BPF_PROG_TYPE_"):].lower() for i, n in btf.enumerators("bpf_prog_type").items()
                  if n.startswith("BPF_PROG_TYPE_") and not n.startswith("BPF_PROG_TYPE___")}
    max_id = args.max_id or max(helpers)
    gpl_only_types = {27, 29}       # struct_ops and lsm programs must be GPL: no non-GPL probe

    print(f"# kernel {platform.release()}, helpers 1...{max_id}")
    allowed = {h: set() for h in range(1, max_id + 1)}
    gpl = {h: set() for h in range(1, max_id + 1)}
    by_type = {}
    for ptype, settings in sorted(variants(btf).items()):
        name = prog_types.get(ptype, str(ptype))
        got, got_gpl, loaded = set(), set(), 0
        for v in settings:
            r = probe_variant(ptype, v, max_id, not args.no_gpl and ptype not in gpl_only_types)
            if r is None:
                continue
            loaded += 1
            got |= r[0]
            got_gpl |= r[1]
        if not loaded:
            print(f"# {name}: not probed (no program of this type loads here)")
            continue
        print(f"# {name}: probed {loaded} of {len(settings)} load settings, {len(got)} helpers")
        by_type[name] = got
        for h in got:
            allowed[h].add(name)
        for h in got_gpl:
            gpl[h].add(name)
    print("# not probed: unspec (no verifier ops), ext (takes its target program's helpers)")
    order = [prog_types[i] for i in sorted(prog_types)]
    for h in range(1, max_id + 1):
        types = " ".join(t for t in order if t in allowed[h])
        mark = ""
        if gpl[h]:
            probed = {t for t in allowed[h]} - {prog_types[t] for t in gpl_only_types}
            mark = " [gpl]" if gpl[h] >= probed else " [gpl: " + " ".join(t for t in order if t in gpl[h]) + "]"
        print(f"{h} {helpers.get(h, '?')}: {types}{mark}")
    if args.by_type:
        for t in order:
            if t in by_type:
                print(f"type {t}: " + " ".join(str(h) for h in sorted(by_type[t])))


if __name__ == "__main__":
    main()
