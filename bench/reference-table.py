#!/usr/bin/env python3
"""bench/reference-table.py RUN_DIR JOBS DRIFT_K SCALE: the table of bench/reference-batch.sh.

Reads, for each run NAME in RUN_DIR: NAME.time (/usr/bin/time -f '%e %U %S': wall, user and
system seconds of the command and every child it waited for), NAME.profile.json (`leanpix
profile -o`), the outputs NAME/*.avif and, for leanpix, leanpix.report.json (`batch --json`).
Prints the table (markdown) and the classic fixes' predicted and measured effects; writes
RUN_DIR/results.tsv and RUN_DIR/results.json.

Columns:
  wall s, CPU s     /usr/bin/time's elapsed, user + system (children included)
  cores busy        CPU s / wall s
  tree peak MiB     the highest whole-tree PSS `leanpix profile` sampled (anon + file + shmem)
  bytes out         the sum of the AVIF files written (outputs / inputs beside it)
  RSS drift         leanpix: the process RSS at the end of each job, from its --json report
                    (process_rss_bytes), the median over the last DRIFT_K jobs against the
                    median over the first DRIFT_K (by finish time; DRIFT_K = 200 of 1,230 at
                    full scale, scaled with the batch), as issue 11 defines it. With two
                    workers each figure holds the other job at whatever point it had
                    reached, so the medians move by about 3% from window to window (the
                    pairs of disjoint windows, taken every DRIFT_K/4 jobs, that differ by
                    more than 5% are counted: rss_window_pairs); the
                    windows compare like with like because the batch runs its photos in
                    the list's order (outliers first). The median of every window of
                    DRIFT_K jobs is kept in results.json (rss_window_medians_mib): a leak
                    shows as a trend there, as in the medians of the quiet job ends of each
                    window (where the other jobs held under 32 MiB counted: what the process
                    keeps between jobs; rss_quiet_window_medians_mib, with their counts).
                    (An earlier variant, the RSS less the heap in
                    use at "quiet" ends, was dropped: on 46 such ends of one run it read
                    from -3 to 38 MiB, the other job's untouched heap, not drift.)
                    the others (many processes, no per-job record): the median tree RSS
                    (sum over the processes) of the profile's samples in the last sixth of
                    the wall time against the first sixth. +x% = grew.
  / avifenc         wall, tree peak and bytes divided by xargs avifenc's.
"""
import json, os, statistics, sys

ORDER = ['leanpix', 'avifenc', 'classic', 'fix1', 'fix2', 'fix3']
LABELS = {
    'leanpix': 'leanpix batch',
    'avifenc': 'xargs avifenc -j 1',
    'classic': 'classic: 4 forks, mmap, bitmaps',
    'fix1': 'classic + madvise',
    'fix2': 'classic + madvise + stream',
    'fix3': 'classic + madvise + stream + threads',
}

# The classic fixes' predicted effect on the tree peak PSS, each against the row before it
# (cumulative). Written before the first measurement (2026-12-02), from page counts: the
# classic peak comes while a worker encodes an outlier as one AV1 frame, holding its RGB
# bitmap (3 B/px), libavif's YUV copy (1.5 B/px) and libaom's all-intra state, beside three
# workers on photos, the mapped JPEGs and each forked worker's copy of the parent heap.
PREDICTED = {
    'fix1': ('madvise: MADV_SEQUENTIAL on the mapping, MADV_DONTNEED + munmap once decoded: the '
             'mapped JPEGs stop being resident through the encode and while kept: the outlier file '
             '(80-140 MB) plus ~12 MB per photo worker', -180, -100),
    'fix2': ('stream: the outlier is decoded row by row into the YUV planes, no RGB bitmap: '
             '-3 B/px of the outlier at the peak (138 MP: 415 MB, 216 MP: 648 MB)', -648, -415),
    'fix3': ('threads: the parent heap (CLASSIC_HEAP_MIB, 200) is no longer copied into each of '
             'the 4 workers: -4 x 200 MiB, plus ~2-4 MiB of private library pages per worker',
             -820, -760),
}


def mib(b):
    return b / 2**20


def median_or_none(xs):
    return statistics.median(xs) if xs else None


QUIET_MIB = 32


def quiet_windows(done, k):
    """Median RSS at the job ends of each window of k jobs where the other running jobs held
    under QUIET_MIB counted (they had not reached their encoders): what the process keeps
    between jobs, without the other job's progress that moves the all-ends median."""
    out = []
    for w in range(0, len(done) - k + 1, k):
        q = [i['process_rss_bytes'] for i in done[w:w + k]
             if i.get('running_counted_bytes', QUIET_MIB << 20) < QUIET_MIB << 20]
        if not q:
            return None
        out.append((round(mib(statistics.median(q)), 1), len(q)))
    return out


def window_spread(rss, k):
    """The measure's own noise: the medians of the windows of k job ends taken every k/4 jobs,
    and how the later of two disjoint windows compares with the earlier (as the drift
    does): (step, pairs, pairs over 5% apart, largest difference). None when too few jobs."""
    step = max(1, k // 4)
    gap = -(-k // step)  # windows this many steps apart share no job
    meds = [statistics.median(rss[w:w + k]) for w in range(0, len(rss) - k + 1, step)]
    diffs = [meds[j] / meds[i] - 1 for i in range(len(meds)) for j in range(i + gap, len(meds))]
    if not diffs:
        return None
    return step, len(diffs), sum(abs(x) > 0.05 for x in diffs), max(abs(x) for x in diffs)


def main():
    d, n, k, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rows = []
    for name in ORDER:
        prof = os.path.join(d, name + '.profile.json')
        if not os.path.exists(prof):
            continue
        p = json.load(open(prof))
        try:
            wall, user, sys_s = (float(x) for x in open(os.path.join(d, name + '.time')).read().split()[-3:])
        except (OSError, ValueError):
            wall, user, sys_s = p['wall_s'], float('nan'), float('nan')
        outs = [e for e in os.scandir(os.path.join(d, name)) if e.name.endswith('.avif')] \
            if os.path.isdir(os.path.join(d, name)) else []
        peak = p['summary']['peak']
        samples = p['samples']
        first = [s['tree']['rss'] for s in samples if s['t'] <= p['wall_s'] / 6]
        last = [s['tree']['rss'] for s in samples if s['t'] >= p['wall_s'] * 5 / 6]
        a, b = median_or_none(first), median_or_none(last)
        r = {
            'run': name, 'label': LABELS[name], 'wall_s': wall, 'cpu_s': user + sys_s,
            'cores_busy': (user + sys_s) / wall if wall else None,
            'tree_peak_pss_mib': mib(peak['tree']['pss']), 'peak_t_s': peak['t'],
            'peak_pss_anon_mib': mib(peak['tree']['pss_anon']),
            'peak_pss_file_mib': mib(peak['tree']['pss_file']),
            'max_process_hwm_mib': mib(p['summary']['max_hwm']),
            'minflt': p['summary']['minflt'], 'majflt': p['summary']['majflt'],
            'outputs': len(outs), 'inputs': n, 'bytes_out': sum(e.stat().st_size for e in outs),
            'exit_status': p['exit_status'],
            'rss_drift_time': (b / a - 1) if a and b else None,
            'rss_first_sixth_mib': mib(a) if a else None, 'rss_last_sixth_mib': mib(b) if b else None,
            'top_mappings_at_peak': [
                {k2: m[k2] for k2 in ('comm', 'name', 'kind', 'pss', 'heuristics')}
                for m in p.get('peak_snapshot', {}).get('mappings', [])[:5]],
        }
        r['rss_drift'] = r['rss_drift_time']
        r['rss_drift_basis'] = 'tree RSS, first vs last sixth of the wall time'
        rep = os.path.join(d, name + '.report.json')
        if name == 'leanpix' and os.path.exists(rep):
            report = json.load(open(rep))
            images = sorted(report['images'], key=lambda i: i['finished_at'])
            done = [i for i in images if i['process_rss_bytes']]
            rss = [i['process_rss_bytes'] for i in done]
            if len(rss) >= 2 * k:
                a, b = statistics.median(rss[:k]), statistics.median(rss[-k:])
                r.update(rss_drift_raw=b / a - 1, rss_raw_first_jobs_mib=mib(a), rss_raw_last_jobs_mib=mib(b))
            if 'rss_drift_raw' in r:
                windows = [round(mib(statistics.median(rss[w:w + k])), 1)
                           for w in range(0, len(rss) - k + 1, k)]
                r.update(rss_drift=r['rss_drift_raw'], rss_first_jobs_mib=r['rss_raw_first_jobs_mib'],
                         rss_last_jobs_mib=r['rss_raw_last_jobs_mib'], rss_window_medians_mib=windows,
                         rss_drift_basis=f'process RSS at job end, median of the first vs last {k} jobs '
                                         f'(medians of each {k} jobs in turn: '
                                         + ', '.join(f'{v:.1f}' for v in windows) + ' MiB)')
                spread = window_spread(rss, k)
                if spread:
                    step, pairs, over, most = spread
                    r['rss_window_pairs'] = {'pairs': pairs, 'over_5_percent': over,
                                             'largest': most}
                    r['rss_drift_basis'] += (
                        f'; of {pairs} pairs of disjoint windows taken every {step} '
                        f'jobs, {over} differ by more than 5% (at most {most * 100:.1f}%): '
                        "the measure's own noise")
                quiet = quiet_windows(done, k)
                if quiet:
                    r.update(rss_quiet_window_medians_mib=quiet)
                    r['rss_drift_basis'] += ('; at quiet job ends (the other jobs counted under '
                                             f'{QUIET_MIB} MiB), median and count of each window: '
                                             + ', '.join(f'{v:.1f} ({c})' for v, c in quiet) + ' MiB')
            summary = report['summary']
            r['report'] = {x: summary.get(x) for x in ('succeeded', 'failed', 'ran_alone', 'jobs', 'budget_bytes')}
        rows.append(r)

    base = next((r for r in rows if r['run'] == 'avifenc' and r['exit_status'] == 0 and r['outputs']), None)

    def ratio(r, key):
        return r[key] / base[key] if base and base[key] else None

    for r in rows:
        r['wall_vs_avifenc'] = ratio(r, 'wall_s')
        r['peak_vs_avifenc'] = ratio(r, 'tree_peak_pss_mib')
        r['bytes_vs_avifenc'] = ratio(r, 'bytes_out')

    def f(v, fmt):
        return 'NA' if v is None or v != v else format(v, fmt)

    head = ['run', 'wall s', 'CPU s', 'cores busy', 'tree peak PSS MiB', 'bytes out', 'outputs',
            'RSS drift', 'wall / avifenc', 'peak / avifenc', 'bytes / avifenc']
    print(f'\nReference batch, scale {scale} ({n} inputs):\n')
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '|'.join(['---'] + ['---:'] * (len(head) - 1)) + '|')
    for r in rows:
        drift = f(r['rss_drift'] * 100 if r['rss_drift'] is not None else None, '+.1f') + '%'
        if r['run'] == 'leanpix' and 'rss_first_jobs_mib' in r:
            drift += f" ({r['rss_first_jobs_mib']:.0f} -> {r['rss_last_jobs_mib']:.0f} MiB)"
        print('| ' + ' | '.join([
            r['label'] + ('' if r['exit_status'] == 0 else f" (FAILED: exit {r['exit_status']})"), f(r['wall_s'], '.1f'), f(r['cpu_s'], '.1f'), f(r['cores_busy'], '.2f'),
            f(r['tree_peak_pss_mib'], ',.1f'), f(r['bytes_out'], ','), f"{r['outputs']}/{n}", drift,
            f(r['wall_vs_avifenc'], '.2f'), f(r['peak_vs_avifenc'], '.3f'), f(r['bytes_vs_avifenc'], '.3f')]) + ' |')

    fixes = [r for r in rows if r['run'] in PREDICTED]
    if fixes:
        print('\nThe classic fixes, one at a time (cumulative): change of the tree peak PSS against the row above\n')
        print('| fix | predicted MiB | measured MiB | measured % | what it removes |')
        print('|---|---:|---:|---:|---|')
        prev = {r['run']: r for r in rows}
        before = {'fix1': 'classic', 'fix2': 'fix1', 'fix3': 'fix2'}
        for r in fixes:
            text, lo, hi = PREDICTED[r['run']]
            p = prev.get(before[r['run']])
            delta = r['tree_peak_pss_mib'] - p['tree_peak_pss_mib'] if p else None
            r['predicted_delta_mib'] = [lo, hi]
            r['measured_delta_mib'] = delta
            pct = 100 * delta / p['tree_peak_pss_mib'] if p and p['tree_peak_pss_mib'] else None
            print(f"| {r['label']} | {lo} to {hi} | {f(delta, '+,.0f')} | {f(pct, '+.1f')}% | {text} |")

    for r in rows:
        print(f"\n{r['label']}: peak at {r['peak_t_s']:.1f} s: anon {r['peak_pss_anon_mib']:.0f} MiB, "
              f"file {r['peak_pss_file_mib']:.1f} MiB; largest process VmHWM {r['max_process_hwm_mib']:.0f} MiB; "
              f"faults minor {r['minflt']:,}, major {r['majflt']:,}; RSS drift basis: {r['rss_drift_basis']}"
              + (f"; exit status {r['exit_status']}" if r['exit_status'] else ''))
        for m in r['top_mappings_at_peak'][:3]:
            print(f"    {mib(m['pss']):8.1f} MiB  {m['kind']:5} {m['comm']:10} {m['name']} "
                  f"{' '.join('[' + h + ']' for h in m['heuristics'])}")

    cols = ['run', 'wall_s', 'cpu_s', 'cores_busy', 'tree_peak_pss_mib', 'peak_pss_file_mib', 'bytes_out',
            'outputs', 'inputs', 'rss_drift', 'rss_drift_basis', 'wall_vs_avifenc', 'peak_vs_avifenc',
            'bytes_vs_avifenc', 'minflt', 'majflt']
    with open(os.path.join(d, 'results.tsv'), 'w') as t:
        t.write('\t'.join(cols) + '\n')
        for r in rows:
            t.write('\t'.join('' if r.get(c) is None else str(r.get(c)) for c in cols) + '\n')
    with open(os.path.join(d, 'results.json'), 'w') as j:
        json.dump({'scale': scale, 'inputs': n, 'drift_k': k, 'header': open(os.path.join(d, 'header.txt')).read()
                   if os.path.exists(os.path.join(d, 'header.txt')) else '', 'runs': rows}, j, indent=1)


main()
