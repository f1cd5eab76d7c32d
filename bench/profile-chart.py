#!/usr/bin/env python3
"""bench/profile-chart.py -o OUT.svg [--title T] [--log] [--rss] NAME=PROFILE.json...

Draws the memory trajectory recorded by `leanpix profile -o PROFILE.json` as a plain SVG
(no dependency beyond python3; small enough to commit): the tree's PSS over time, one line
per profile, with the peak marked. With one profile it also shades the file-backed part of
the PSS and, with --rss, draws the tree's RSS sum dashed (what ps-style tools report).
--log uses a logarithmic memory axis, for runs whose peaks differ by orders of magnitude.
Times are seconds since each recording started; sizes MiB. Series are thinned to 800
points per line, keeping each bucket's highest PSS so that peaks survive.
"""
import argparse, json, math

COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666']
W, H, L, R, T, B = 780, 340, 70, 175, 36, 44


def series(path, key):
    d = json.load(open(path))
    pts = [(s['t'], s['tree'][key] / 2**20) for s in d['samples']]
    file_pts = [(s['t'], s['tree']['pss_file'] / 2**20) for s in d['samples']]
    return d, thin(pts), thin(file_pts)


def thin(pts, n=800):
    if len(pts) <= n:
        return pts
    size = len(pts) / n
    return [max(pts[int(i * size):int((i + 1) * size)] or [pts[-1]], key=lambda p: p[1]) for i in range(n)]


def nice_step(span, ticks=5):
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-o', required=True)
    ap.add_argument('--title', default='tree PSS')
    ap.add_argument('--log', action='store_true')
    ap.add_argument('--rss', action='store_true')
    ap.add_argument('runs', nargs='+')
    a = ap.parse_args()
    runs = []
    for r in a.runs:
        name, path = r.split('=', 1)
        d, pss, fil = series(path, 'pss')
        runs.append((name, d, pss, fil, series(path, 'rss')[1] if a.rss else None))
    tmax = max(p[0] for _, _, pss, _, _ in runs for p in pss) or 1
    ymax = max(p[1] for run in runs for pts in (run[2], run[4] or []) for p in pts) or 1
    ymin = max(1.0, min(p[1] for run in runs for p in run[2] if p[1] > 0)) if a.log else 0
    pw, ph = W - L - R, H - T - B

    def x(t):
        return L + pw * t / tmax

    def y(v):
        if a.log:
            v = max(v, ymin)
            return T + ph * (1 - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax * 1.1) - math.log10(ymin)))
        return T + ph * (1 - v / (ymax * 1.05))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="20" font-size="13" font-weight="bold">{esc(a.title)}</text>']
    # axes and grid
    if a.log:
        ticks = [10 ** e * m for e in range(int(math.floor(math.log10(ymin))), int(math.log10(ymax)) + 2)
                 for m in (1, 3) if ymin <= 10 ** e * m <= ymax * 1.1]
    else:
        step = nice_step(ymax)
        ticks = [i * step for i in range(int(ymax * 1.05 / step) + 1)]
    for v in ticks:
        out.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    step = nice_step(tmax)
    for i in range(int(tmax / step) + 1):
        t = i * step
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{T + ph}" y2="{T + ph + 4}" stroke="#333"/>')
        out.append(f'<text x="{x(t):.1f}" y="{T + ph + 16}" text-anchor="middle">{t:g}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{L + pw / 2}" y="{H - 8}" text-anchor="middle">seconds</text>')
    out.append(f'<text transform="translate(16,{T + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'MiB{" (log scale)" if a.log else ""}</text>')
    for i, (name, d, pss, fil, rss) in enumerate(runs):
        c = COLORS[i % len(COLORS)]
        if len(runs) == 1 and not a.log:
            area = ' '.join(f'{x(t):.1f},{y(v):.1f}' for t, v in fil)
            out.append(f'<polygon points="{x(fil[0][0]):.1f},{y(0):.1f} {area} {x(fil[-1][0]):.1f},{y(0):.1f}" '
                       f'fill="{c}" fill-opacity="0.25"/>')
        if rss:
            out.append('<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="' +
                       ' '.join(f'{x(t):.1f},{y(v):.1f}' for t, v in rss) + '"/>')
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="' +
                   ' '.join(f'{x(t):.1f},{y(v):.1f}' for t, v in pss) + '"/>')
        pk = d['summary']['peak']
        pv = pk['tree']['pss'] / 2**20
        out.append(f'<circle cx="{x(pk["t"]):.1f}" cy="{y(pv):.1f}" r="3" fill="{c}"/>')
        ly = T + 14 + i * 30
        out.append(f'<line x1="{L + pw + 10}" x2="{L + pw + 28}" y1="{ly - 4}" y2="{ly - 4}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{L + pw + 32}" y="{ly}">{esc(name)}</text>')
        out.append(f'<text x="{L + pw + 32}" y="{ly + 13}" fill="#555">peak {pv:,.0f} MiB, {d["wall_s"]:.0f} s</text>')
    if len(runs) == 1:
        ly = T + 14 + 40
        out.append(f'<rect x="{L + pw + 10}" y="{ly - 9}" width="18" height="8" fill="{COLORS[0]}" fill-opacity="0.25"/>'
                   f'<text x="{L + pw + 32}" y="{ly}">file-backed PSS</text>')
        if a.rss:
            out.append(f'<line x1="{L + pw + 10}" x2="{L + pw + 28}" y1="{ly + 12}" y2="{ly + 12}" stroke="#999" '
                       f'stroke-dasharray="4 3"/><text x="{L + pw + 32}" y="{ly + 16}">RSS sum</text>')
    out.append('</svg>')
    with open(a.o, 'w') as f:
        f.write('\n'.join(out) + '\n')


def esc(s):
    return s.replace('&', '&amp;').replace('<', '&lt;')


main()
