#!/usr/bin/env python3
"""Compares SwiftBPF's kernel loader with libbpf on every program of a corpus project.

    Scripts/corpus/loader_parity.py OBJ_DIR [SWIFTBPF_BINARY] [--loader KERNEL_VERDICTS]
                                    [--projects P ...] [--out DIR] [--refresh]

For each object OBJ_DIR/<project>/*.o (default project: bcc, i.e. its libbpf-tools) and each of
its programs, loads the object into the running kernel with only that program enabled, twice:
  - with libbpf: kernel_verdicts (built by loader_parity.sh), which prints the outcome, the
    kernel's program tag and the expected attach type libbpf sent. Cached in
    OBJ_DIR/<project>/<object>.libbpf.jsonl (--refresh measures again);
  - with SwiftBPF: `swiftbpf load OBJ --each --json --size-empty-maps` (our KernelObject).
Both size maps the object leaves at max_entries 0 for its user space with the CPU count.
An outcome is "accept" (loaded), "reject" (the kernel's verifier refused it, with a log) or
"error" (it never reached the verifier: a map, a relocation, a missing attach target, EPERM).
For programs both load, the kernel's tags are compared: the tag is a hash of the relocated
instructions as the kernel holds them (map fds left out), so equal tags mean both loaders sent
the same instructions. The expected attach types and the flags each map was created with are
compared too (they are not in the tag).
Writes OUT/loader-parity.jsonl (one line per program) and OUT/loader-parity.md; OUT defaults
to OBJ_DIR/results. Needs root.
"""
import argparse
import collections
import json
import os
import subprocess
import sys


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, "", "timeout after %d s" % timeout


def json_lines(text):
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def libbpf_outcomes(loader, obj, refresh):
    cache = obj[:-2] + ".libbpf.jsonl"
    fresh = os.path.exists(cache) and os.path.getmtime(cache) >= max(os.path.getmtime(obj), os.path.getmtime(loader))
    if fresh and not refresh:
        with open(cache) as f:
            return json_lines(f.read())
    rc, out, err = run([loader, obj], 1800)
    rows = [r for r in json_lines(out) if r.get("program")]
    if not rows:
        first = (err or "").strip().splitlines()
        rows = [{"program": None, "kernel": "error", "message": first[0] if first else "libbpf could not open the object"}]
    with open(cache, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def our_outcomes(swiftbpf, obj):
    rc, out, err = run([swiftbpf, "load", obj, "--each", "--json", "--size-empty-maps"], 1800)
    rows = json_lines(out)
    if rc != 0 and not rows:
        first = (err or "").strip().splitlines()
        return None, first[0] if first else "swiftbpf load failed (exit %s)" % rc
    return {r["program"]: r for r in rows}, None


def compare(project, obj, libbpf, ours, our_error):
    rows = []
    for k in libbpf:
        name = k.get("program")
        row = {"project": project, "object": os.path.basename(obj), "program": name, "section": k.get("section"),
               "libbpf": k.get("kernel"), "libbpf_message": k.get("message", ""), "libbpf_tag": k.get("tag", ""),
               "libbpf_attach_type": k.get("expected_attach_type", -1)}
        o = (ours or {}).get(name) if name else None
        if o is None:
            row.update(ours="error", ours_message=our_error or "no outcome from swiftbpf load", ours_tag="", ours_attach_type=-1)
        else:
            row.update(ours=o["outcome"], ours_message=o.get("message", ""), ours_tag=o.get("tag") or "",
                       ours_attach_type=o.get("expected_attach_type", -1))
        both = row["libbpf"] == "accept" and row["ours"] == "accept"
        row["same_outcome"] = (row["libbpf"] == "accept") == (row["ours"] == "accept")
        row["same_tag"] = both and row["libbpf_tag"] == row["ours_tag"] and row["libbpf_tag"] != ""
        row["same_attach_type"] = not both or row["libbpf_attach_type"] == row["ours_attach_type"]
        # Map flags, by map name (libbpf names global data maps by a prefix of the object's name
        # and the section, e.g. "runqslow.rodata"; compare by the section part).
        def flags(maps):
            return {m["name"][m["name"].rfind("."):] if "." in m["name"] else m["name"]: m["flags"] for m in maps or []}
        lf, of = flags(k.get("maps")), flags((o or {}).get("maps"))
        row["map_flag_differences"] = sorted("%s: libbpf 0x%x, ours 0x%x" % (n, lf[n], of[n]) for n in lf if n in of and lf[n] != of[n]) if both else []
        rows.append(row)
    # Programs libbpf did not list (it could not open the object) but we did.
    listed = {k.get("program") for k in libbpf}
    for name, o in sorted((ours or {}).items()):
        if name not in listed:
            rows.append({"project": project, "object": os.path.basename(obj), "program": name, "section": o.get("section"),
                         "libbpf": "error", "libbpf_message": libbpf[0].get("message", "") if libbpf else "", "libbpf_tag": "",
                         "libbpf_attach_type": -1, "ours": o["outcome"], "ours_message": o.get("message", ""),
                         "ours_tag": o.get("tag") or "", "ours_attach_type": o.get("expected_attach_type", -1),
                         "same_outcome": o["outcome"] != "accept", "same_tag": False, "same_attach_type": True,
                         "map_flag_differences": []})
    return [r for r in rows if r["program"] is not None or r["ours"] == "accept"]


def summary(rows):
    lines = ["# Loader parity: SwiftBPF's loader against libbpf", ""]
    lines.append("| project | programs | same outcome | both load | identical tags | same attach type | same map flags | libbpf only | ours only |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    by_project = collections.OrderedDict()
    for r in rows:
        by_project.setdefault(r["project"], []).append(r)
    for p, rs in list(by_project.items()) + [("**all**", rows)]:
        both = [r for r in rs if r["libbpf"] == "accept" and r["ours"] == "accept"]
        lines.append("| %s | %d | %d | %d | %d | %d | %d | %d | %d |" % (
            p, len(rs), sum(r["same_outcome"] for r in rs), len(both), sum(r["same_tag"] for r in both),
            sum(r["same_attach_type"] for r in both), sum(not r["map_flag_differences"] for r in both),
            sum(r["libbpf"] == "accept" and r["ours"] != "accept" for r in rs),
            sum(r["libbpf"] != "accept" and r["ours"] == "accept" for r in rs)))
    lines += ["", "Outcomes (libbpf → ours):", ""]
    pairs = collections.Counter((r["libbpf"], r["ours"]) for r in rows)
    for (a, b), n in sorted(pairs.items()):
        lines.append("- %s → %s: %d" % (a, b, n))
    diffs = [r for r in rows if not r["same_outcome"] or not r["same_attach_type"] or r["map_flag_differences"]
             or (r["libbpf"] == "accept" and r["ours"] == "accept" and not r["same_tag"])]
    lines += ["", "## Differences (%d)" % len(diffs), ""]
    for r in diffs:
        what = []
        if not r["same_outcome"]:
            what.append("libbpf %s (%s), ours %s (%s)" % (r["libbpf"], r["libbpf_message"][:160], r["ours"], r["ours_message"][:160]))
        elif not r["same_tag"]:
            what.append("tags differ: libbpf %s, ours %s" % (r["libbpf_tag"], r["ours_tag"]))
        if r["map_flag_differences"]:
            what.append("map flags: " + ", ".join(r["map_flag_differences"]))
        if not r["same_attach_type"]:
            what.append("expected attach type: libbpf %s, ours %s" % (r["libbpf_attach_type"], r["ours_attach_type"]))
        lines.append("- %s/%s `%s` (%s): %s" % (r["project"], r["object"], r["program"], r["section"], "; ".join(what)))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("obj_dir")
    ap.add_argument("swiftbpf", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "debug", "swiftbpf"))
    ap.add_argument("--loader", default=None, help="the kernel_verdicts binary (loader_parity.sh builds it)")
    ap.add_argument("--projects", nargs="*", default=["bcc"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--refresh", action="store_true", help="load with libbpf again instead of using the cached outcomes")
    args = ap.parse_args()
    swiftbpf = os.path.abspath(args.swiftbpf)
    loader = os.path.abspath(args.loader or os.path.join(args.obj_dir, ".tools", "kernel_verdicts"))
    for path in (swiftbpf, loader):
        if not os.access(path, os.X_OK):
            sys.exit("loader_parity.py: %s is not an executable" % path)
    out = args.out or os.path.join(args.obj_dir, "results")
    os.makedirs(out, exist_ok=True)
    rows = []
    work = [(p, os.path.join(args.obj_dir, p, f)) for p in args.projects
            for f in sorted(os.listdir(os.path.join(args.obj_dir, p))) if f.endswith(".o")]
    for i, (project, obj) in enumerate(work, 1):
        libbpf = libbpf_outcomes(loader, obj, args.refresh)
        ours, error = our_outcomes(swiftbpf, obj)
        rs = compare(project, obj, libbpf, ours, error)
        rows += rs
        bad = [r["program"] for r in rs if not (r["same_outcome"] and r["same_attach_type"] and not r["map_flag_differences"]
               and (r["same_tag"] or r["libbpf"] != "accept" or r["ours"] != "accept"))]
        print("[%d/%d] %s/%s: %d programs%s" % (i, len(work), project, os.path.basename(obj), len(rs),
              ", differ: " + ", ".join(map(str, bad)) if bad else ""), file=sys.stderr)
    with open(os.path.join(out, "loader-parity.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    text = summary(rows)
    with open(os.path.join(out, "loader-parity.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
