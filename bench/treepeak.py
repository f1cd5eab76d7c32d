#!/usr/bin/env python3
"""bench/treepeak.py [--interval S] -- CMD...: run CMD and sample its whole process tree.

Every interval (default 0.05 s) it finds CMD's descendants (/proc/*/stat parent links) and
sums their Pss (proportional set size: a page shared by n processes counts 1/n in each, so
the sum is what the tree really costs) from /proc/PID/smaps_rollup, split into anonymous
and file-backed, and the sum of their RSS. Prints one JSON line on stdout with the peaks
(MiB), the number of processes seen at once and the wall time; CMD's own output goes to
stderr. Used by bench/batch-vs-peers.sh until `leanpix profile` does the same.
"""
import json, os, subprocess, sys, time

def children_map():
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                s = f.read()
            ppid = int(s[s.rindex(')') + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            pass
    return kids

def tree(root):
    kids, out, todo = children_map(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def rollup(pid):
    vals = {}
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(':') and parts[1].isdigit():
                    vals[parts[0][:-1]] = int(parts[1])
    except OSError:
        pass
    return vals

def main():
    args = sys.argv[1:]
    interval = 0.05
    if args[:1] == ['--interval']:
        interval = float(args[1]); args = args[2:]
    if args[:1] == ['--']:
        args = args[1:]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=sys.stderr)
    peak = {'pss': 0, 'pss_anon': 0, 'pss_file': 0, 'rss': 0, 'procs': 0}
    while proc.poll() is None:
        pss = anon = fil = rss = 0
        pids = tree(proc.pid)
        for p in pids:
            v = rollup(p)
            pss += v.get('Pss', 0); anon += v.get('Pss_Anon', 0); fil += v.get('Pss_File', 0)
            rss += v.get('Rss', 0)
        for k, x in (('pss', pss), ('pss_anon', anon), ('pss_file', fil), ('rss', rss), ('procs', len(pids))):
            peak[k] = max(peak[k], x)
        time.sleep(interval)
    wall = time.monotonic() - start
    res = {k + ('_mib' if k != 'procs' else ''): (round(v / 1024, 1) if k != 'procs' else v) for k, v in peak.items()}
    res.update(wall_s=round(wall, 2), exit=proc.returncode)
    print(json.dumps(res))
    sys.exit(0)

main()
