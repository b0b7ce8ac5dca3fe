#!/usr/bin/env python3
"""Measures SwiftBPF on the real-world corpus built by build.sh.

    Scripts/corpus/measure.py OBJ_DIR [SWIFTBPF_BINARY] [--out DIR] [--refresh-kernel]
                              [--projects P ...] [--verify-timeout S] [--jobs N]

For each object OBJ_DIR/<project>/*.o and each of its programs:
  - the kernel's verdict: kernel_verdicts (our libbpf loader, built by measure.sh) loads the
    object into the running kernel once per program, only that program enabled (needs root).
    Cached in OBJ_DIR/<project>/<object>.kernel.jsonl, as it does not depend on SwiftBPF;
    --refresh-kernel measures it again;
  - our verifier's verdict: `swiftbpf verify OBJ --json` (kernel rules, as the CLI has them);
  - for XDP and TC programs: whether the Swift runtime runs it on a 64-byte IPv4/UDP Ethernet
    frame (`swiftbpf run OBJ --program NAME --packet-hex ... --json`).
Writes OUT/corpus.jsonl (one line per program) and OUT/summary.md (a table per project and the
disagreements grouped by reason). OUT defaults to OBJ_DIR/results.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_ORDER = ["cilium", "katran", "xdp-tools", "bcc", "linux-samples", "linux-selftests"]
PACKET_TYPES = {"xdp", "sched_cls", "sched_act"}


def test_frame():
    """A 64-byte Ethernet frame: IPv4 10.0.0.1 -> 10.0.0.2, UDP 1234 -> 5678, 22 bytes of payload."""
    payload = bytes(range(22))
    udp = (1234).to_bytes(2, "big") + (5678).to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") + b"\0\0"
    total = 20 + len(udp) + len(payload)
    ip = bytearray(b"\x45\x00" + total.to_bytes(2, "big") + b"\x00\x01\x40\x00\x40\x11\x00\x00"
                   + bytes([10, 0, 0, 1]) + bytes([10, 0, 0, 2]))
    s = sum(int.from_bytes(ip[i:i + 2], "big") for i in range(0, 20, 2))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = (~s & 0xFFFF).to_bytes(2, "big")
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    frame = eth + bytes(ip) + udp + payload
    assert len(frame) == 64
    return frame.hex()


FRAME = test_frame()


def run(cmd, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - start
    except subprocess.TimeoutExpired:
        return None, "", "timeout after %d s" % timeout, time.monotonic() - start


def first_line(text):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line
    return ""


def kernel_verdicts(loader, obj, refresh):
    cache = obj[:-2] + ".kernel.jsonl"
    if not refresh and os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(obj):
        with open(cache) as f:
            return [json.loads(l) for l in f if l.strip()]
    rc, out, err, _ = run([loader, obj], 1800)
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    if rc is None or not rows:
        rows = [{"program": None, "kernel": "error", "message": first_line(err) or "loader failed"}]
    with open(cache, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


BPFFS = None  # a private bpffs for the fallback loader's pinned maps (mounted on demand)


def private_bpffs():
    global BPFFS
    if BPFFS is None:
        path = "/tmp/swiftbpf-corpus-bpffs"
        os.makedirs(path, exist_ok=True)
        if subprocess.run(["mountpoint", "-q", path]).returncode != 0:
            subprocess.run(["mount", "-t", "bpf", "bpf", path], check=False)
        BPFFS = path
    return BPFFS


def kernel_verdicts_by_swiftbpf(swiftbpf, obj, names):
    """The fallback for objects libbpf cannot open (cilium's legacy `maps` section with iproute2
    pinning): `swiftbpf load --program NAME` per program, maps pinned in a private bpffs folder."""
    folder = os.path.join(private_bpffs(), "%d-%s" % (os.getpid(), re.sub(r"\W", "_", os.path.basename(obj))))  # bpffs names take no dots
    rows = []
    for i, name in enumerate(names):
        os.makedirs(folder, exist_ok=True)
        rc, out, err, _ = run([swiftbpf, "load", obj, "--program", name, "--pin-maps-by", folder, "--json"], 600)
        row = {"program": name, "index": i, "loader": "swiftbpf load", "verified_insns": 0, "verification_time_us": 0}
        text = (err or "") + (out if rc else "")
        if rc == 0:
            row.update(kernel="accept", message="")
        elif "the verifier rejected the program" in text:
            row.update(kernel="reject", message=first_line(text.split("(see the log):", 1)[-1]))
        else:
            row.update(kernel="error", message=first_line(re.sub(r"^Error: \S+\.o: ", "", text)) or "timeout")
        rows.append(row)
        subprocess.run(["rm", "-rf", folder])
    return rows


def parse_verify(out):
    try:
        return json.loads(out)["programs"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


def our_verdicts(swiftbpf, obj, names, timeout):
    """{program name: verify entry}. One process per object; per program when that times out."""
    rc, out, err, _ = run([swiftbpf, "verify", obj, "--json"], timeout)
    progs = parse_verify(out) if rc is not None else None
    if progs is not None:
        return {p["name"]: p for p in progs}, None
    if rc is not None:  # the object itself was refused (not an ELF we read, ...)
        return {}, first_line(err) or first_line(out) or "swiftbpf verify failed (exit %s)" % rc
    result = {}
    for name in names:
        rc, out, err, _ = run([swiftbpf, "verify", obj, "--program", name, "--json"], min(timeout, 120))
        progs = parse_verify(out) if rc is not None else None
        if progs:
            result[name] = progs[0]
        else:
            result[name] = {"name": name, "verdict": "timeout" if rc is None else "error",
                            "error": {"kind": "timeout" if rc is None else "error",
                                      "message": "timeout after 120 s" if rc is None else first_line(err) or "no output"}}
    return result, None


def runtime_run(swiftbpf, obj, name, timeout=120):
    # Maps a tool leaves at max_entries 0 for its user space to size get the number of CPUs, as
    # the kernel loader (kernel_verdicts.c) gives them.
    sized = []
    while True:
        command = [swiftbpf, "run", obj, "--program", name, "--packet-hex", FRAME, "--json"]
        if sized:
            command += ["--max-entries"] + ["%s=%d" % (m, os.cpu_count() or 1) for m in sized]
        rc, out, err, _ = run(command, timeout)
        try:
            j = json.loads(out)
        except json.JSONDecodeError:
            j = None
        if rc == 0 and j and "return" in j:
            return {"runs": True, "return": j["return"], "sized_maps": sized}
        why = (j or {}).get("error") if isinstance(j, dict) else None
        message = first_line(why or err or out) or "exit %s" % rc
        unsized = re.search(r"map '([^']+)': max_entries 0", message)
        if not unsized or unsized.group(1) in sized or len(sized) >= 32:
            return {"runs": False, "run_error": message}
        sized.append(unsized.group(1))


def measure_object(args, project, obj):
    rows = []
    kernel = kernel_verdicts(args.loader, obj, args.refresh_kernel)
    names = [k["program"] for k in kernel if k.get("program")]
    ours, object_error = our_verdicts(args.swiftbpf, obj, names, args.verify_timeout)
    if not names and ours and os.geteuid() == 0:
        # libbpf could not open the object: ask our own loader, one program at a time.
        why = kernel[0].get("message", "") if kernel else ""
        kernel = kernel_verdicts_by_swiftbpf(args.swiftbpf, obj, list(ours))
        for k in kernel:
            k["libbpf_error"] = why
        with open(obj[:-2] + ".kernel.jsonl", "w") as f:
            for k in kernel:
                f.write(json.dumps(k) + "\n")
        names = [k["program"] for k in kernel]
    seen = set()
    order = names + [n for n in ours if n not in names]
    for name in order:
        if name in seen:
            continue
        seen.add(name)
        k = next((k for k in kernel if k.get("program") == name), None)
        o = ours.get(name)
        row = {"project": project, "object": os.path.basename(obj), "program": name,
               "section": (k or {}).get("section") or (o or {}).get("section"),
               "type": (o or {}).get("type") or (k or {}).get("type"),
               "kernel": (k or {}).get("kernel", "missing"),
               "kernel_message": (k or {}).get("message", ""),
               "kernel_loader": (k or {}).get("loader", "libbpf"),
               "kernel_verified_insns": (k or {}).get("verified_insns"),
               "kernel_time_us": (k or {}).get("verification_time_us"),
               "ours": (o or {}).get("verdict", "error" if object_error else "missing")}
        if o and o.get("error"):
            row["ours_kind"] = o["error"].get("kind")
            row["ours_message"] = first_line(o["error"].get("message"))
        elif object_error:
            row["ours_kind"] = "object"
            row["ours_message"] = object_error
        if o:
            row["ours_insns"] = o.get("instructions_processed")
            row["ours_time_us"] = o.get("time_us")
        ktype = (k or {}).get("type")
        if row["type"] in PACKET_TYPES or ktype in PACKET_TYPES:
            row.update(runtime_run(args.swiftbpf, obj, name))
        rows.append(row)
    if not names and not ours:
        rows.append({"project": project, "object": os.path.basename(obj), "program": None,
                     "kernel": kernel[0].get("kernel") if kernel else "missing",
                     "kernel_message": kernel[0].get("message", "") if kernel else "",
                     "ours": "error", "ours_kind": "object", "ours_message": object_error or ""})
    return rows


HELPER_NAMES = {}


def load_helper_names(obj_dir):
    """Helper id -> name, from libbpf's bpf_helper_defs.h (build.sh's libbpf, else the system's)."""
    for path in (os.path.join(obj_dir, ".libbpf", "root", "include", "bpf", "bpf_helper_defs.h"),
                 "/usr/include/bpf/bpf_helper_defs.h"):
        if os.path.exists(path):
            with open(path) as f:
                for m in re.finditer(r"\(\* const (\w+)\)\(.*?\) = \(void \*\) (\d+);", f.read(), re.S):
                    HELPER_NAMES[int(m.group(2))] = m.group(1)
            return


def normalize(message):
    """A rejection reason without the numbers that differ between programs (instructions, lines)."""
    m = message or "(no message)"
    m = re.sub(r"^Error: \S+\.o: ", "", m)
    m = re.sub(r" ?\[[^\]]*\.[ch]:\d+:[^\]]*\]", "", m)  # the C line quoted: not ours to publish
    m = re.sub(r"\bhelper (\d+)\b(?! \()", lambda h: "helper %s (%s)" % (h.group(1), HELPER_NAMES.get(int(h.group(1)), "?")), m)
    m = re.sub(r" ?\(line \d+:.*?\)(?=: |$)", "", m)
    m = re.sub(r"\binsns? \d+", "insn N", m)
    m = re.sub(r"\bline \d+", "line N", m)
    m = re.sub(r"\b(off|offset)[= ]-?\d+", r"\1=N", m)
    m = re.sub(r"\bR(\d+) ", r"R\1 ", m)
    m = re.sub(r"'[^']*' \(section '[^']*'\)", "PROGRAM", m)
    return re.sub(r"\s+", " ", m).strip()


def summarize(rows, out_path, swiftbpf, tool_versions):
    by_project = collections.OrderedDict()
    for p in PROJECT_ORDER + sorted({r["project"] for r in rows} - set(PROJECT_ORDER)):
        pr = [r for r in rows if r["project"] == p and r.get("program")]
        if pr or any(r["project"] == p for r in rows):
            by_project[p] = pr
    lines = ["# SwiftBPF on the real-world corpus", "",
             "swiftbpf: `%s`; kernel: %s; measured %s." % (swiftbpf, os.uname().release, time.strftime("%Y-%m-%d %H:%M")), "",
             "| project | objects | programs | kernel accepts | we accept | both accept | kernel only | we only | undecided (ours) | XDP/TC programs | run by the runtime | XDP/TC the kernel accepts, run by the runtime |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    totals = collections.Counter()
    for p, pr in by_project.items():
        c = collections.Counter()
        c["objects"] = len({r["object"] for r in rows if r["project"] == p})
        c["programs"] = len(pr)
        for r in pr:
            ka, oa = r["kernel"] == "accept", r["ours"] == "accept"
            c["kernel"] += ka
            c["ours"] += oa
            c["both"] += ka and oa
            c["kernel_only"] += ka and not oa
            c["ours_only"] += oa and r["kernel"] == "reject"
            c["undecided"] += r["ours"] == "undecided"
            if "runs" in r:
                c["packet"] += 1
                c["runs"] += r["runs"]
                c["packet_kernel"] += ka
                c["runs_kernel"] += ka and r["runs"]
        totals.update(c)
        lines.append("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d / %d |" % (
            p, c["objects"], c["programs"], c["kernel"], c["ours"], c["both"], c["kernel_only"], c["ours_only"],
            c["undecided"], c["packet"], c["runs"], c["runs_kernel"], c["packet_kernel"]))
    c = totals
    lines.append("| **all** | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d / %d |" % (
        c["objects"], c["programs"], c["kernel"], c["ours"], c["both"], c["kernel_only"], c["ours_only"],
        c["undecided"], c["packet"], c["runs"], c["runs_kernel"], c["packet_kernel"]))
    lines += ["", "\"kernel only\": the kernel accepts, we reject or cannot decide; \"we only\": we accept, the kernel's "
              "verifier refuses. Programs the kernel could not be given (kernel verdict `error`: libbpf could not "
              "open or relocate them, or the kernel refused them before verifying) count in neither.", ""]
    kernel_errors = collections.Counter()
    for p, pr in by_project.items():
        lines += ["## %s" % p, ""]
        groups = collections.defaultdict(list)
        groups_ours_only = collections.defaultdict(list)
        runs_failed = collections.defaultdict(list)
        for r in pr:
            if r["kernel"] == "accept" and r["ours"] != "accept":
                groups[(r["ours"], normalize(r.get("ours_message")))].append(r)
            elif r["kernel"] == "reject" and r["ours"] == "accept":
                groups_ours_only[normalize(r.get("kernel_message"))].append(r)
            if r["kernel"] == "error":
                kernel_errors[(p, normalize(r.get("kernel_message")))] += 1
            if r.get("runs") is False and r["kernel"] == "accept" and r["ours"] == "accept":
                runs_failed[normalize(r.get("run_error"))].append(r)
        if not pr:
            lines += ["No programs.", ""]
            continue
        lines += ["Kernel accepts, we do not (%d), by our reason:" % sum(len(v) for v in groups.values()), ""]
        for (verdict, reason), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            examples = ", ".join(sorted({"%s:%s" % (r["object"], r["program"]) for r in rs})[:3])
            lines.append("- %s: %s — %d program%s (e.g. %s)" % (verdict, reason, len(rs), "s" if len(rs) != 1 else "", examples))
        if not groups:
            lines.append("- none")
        lines += ["", "We accept, the kernel refuses (%d), by the kernel's reason:" % sum(len(v) for v in groups_ours_only.values()), ""]
        for reason, rs in sorted(groups_ours_only.items(), key=lambda kv: -len(kv[1])):
            examples = ", ".join(sorted({"%s:%s" % (r["object"], r["program"]) for r in rs})[:3])
            lines.append("- %s — %d program%s (e.g. %s)" % (reason, len(rs), "s" if len(rs) != 1 else "", examples))
        if not groups_ours_only:
            lines.append("- none")
        if runs_failed:
            lines += ["", "XDP/TC programs both verifiers accept that the runtime does not run on the test frame (%d):" % sum(len(v) for v in runs_failed.values()), ""]
            for reason, rs in sorted(runs_failed.items(), key=lambda kv: -len(kv[1])):
                examples = ", ".join(sorted({"%s:%s" % (r["object"], r["program"]) for r in rs})[:3])
                lines.append("- %s — %d (e.g. %s)" % (reason, len(rs), examples))
        lines.append("")
    if kernel_errors:
        lines += ["## Programs the kernel could not be given (not compared)", ""]
        for (p, reason), n in sorted(kernel_errors.items(), key=lambda kv: (kv[0][0], -kv[1])):
            lines.append("- %s: %s — %d" % (p, reason, n))
        lines.append("")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("obj_dir")
    ap.add_argument("swiftbpf", nargs="?", default=os.path.join(HERE, "..", "..", ".build", "debug", "swiftbpf"))
    ap.add_argument("--loader", default=None, help="the kernel_verdicts binary (measure.sh builds it)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--projects", nargs="*", default=None)
    ap.add_argument("--refresh-kernel", action="store_true")
    ap.add_argument("--verify-timeout", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    args.swiftbpf = os.path.abspath(args.swiftbpf)
    args.loader = os.path.abspath(args.loader or os.path.join(args.obj_dir, ".tools", "kernel_verdicts"))
    out = args.out or os.path.join(args.obj_dir, "results")
    load_helper_names(args.obj_dir)
    os.makedirs(out, exist_ok=True)
    for path in (args.swiftbpf, args.loader):
        if not os.access(path, os.X_OK):
            sys.exit("measure.py: %s is not an executable" % path)
    projects = args.projects or [p for p in PROJECT_ORDER if os.path.isdir(os.path.join(args.obj_dir, p))] + sorted(
        d for d in os.listdir(args.obj_dir) if d not in PROJECT_ORDER and not d.startswith(".") and d not in ("include", "results")
        and os.path.isdir(os.path.join(args.obj_dir, d)) and any(f.endswith(".o") for f in os.listdir(os.path.join(args.obj_dir, d))))
    work = [(p, os.path.join(args.obj_dir, p, f)) for p in projects
            for f in sorted(os.listdir(os.path.join(args.obj_dir, p))) if f.endswith(".o")]
    print("measuring %d objects of %s with %s" % (len(work), ", ".join(projects), args.swiftbpf), file=sys.stderr)
    rows = []
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(args.jobs, 2))) as pool:
        futures = {pool.submit(measure_object, args, p, o): (p, o) for p, o in work}
        for fut in concurrent.futures.as_completed(futures):
            p, o = futures[fut]
            done += 1
            try:
                rs = fut.result()
            except Exception as e:  # keep going: one broken object must not stop the corpus
                rs = [{"project": p, "object": os.path.basename(o), "program": None, "kernel": "missing",
                       "ours": "error", "ours_kind": "measure", "ours_message": repr(e)}]
            rows += rs
            print("[%d/%d] %s/%s: %s" % (done, len(work), p, os.path.basename(o), ", ".join(
                "%s k=%s o=%s%s" % (r["program"], r["kernel"], r["ours"], "" if "runs" not in r else " run=%s" % r["runs"])
                for r in rs)), file=sys.stderr)
    key = {p: i for i, p in enumerate(projects)}
    rows.sort(key=lambda r: (key.get(r["project"], 99), r["object"], r["program"] or ""))
    with open(os.path.join(out, "corpus.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    summarize(rows, os.path.join(out, "summary.md"), args.swiftbpf, {})
    print("wrote %s and %s" % (os.path.join(out, "corpus.jsonl"), os.path.join(out, "summary.md")), file=sys.stderr)


if __name__ == "__main__":
    main()
