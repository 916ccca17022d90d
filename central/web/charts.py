"""Charts drawn on the server as SVG text (no script on staff pages): the supervisor's
reconciliation chart and the overview's charts share one drawing so they read alike."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], series: Sequence[str], colours: dict[str, str],
                 width: int = 640, bar: int = 20) -> str:
    """Horizontal stacked bars, one per row label, one colour per series (pure SVG text)."""
    top = max((sum(c.get(s, 0) for s in series) for _, c in rows), default=0) or 1
    label_w, gap = 150, 6
    height = len(rows) * (bar + gap) + gap
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" width="{width}" height="{height}" direction="ltr">']
    for n, (label, c) in enumerate(rows):
        y = gap + n * (bar + gap)
        total = sum(c.get(s, 0) for s in series)
        parts.append(f'<text x="0" y="{y + bar * 0.7:.1f}" font-size="12">{escape(label)}</text>')
        x = float(label_w)
        for s in series:
            w = (width - label_w - 60) * c.get(s, 0) / top
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colours[s]}">'
                             f'<title>{escape(s)}: {c[s]}</title></rect>')
                x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + bar * 0.7:.1f}" font-size="12">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)
