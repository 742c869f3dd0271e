"""Dependency-free SVG charts for self-contained HTML reports (no network, no JavaScript needed).

Each function returns an ``<svg class="chart" data-chart="...">`` string with a title and accessible labels;
the browser test checks that every ``svg.chart`` rendered with a non-empty bounding box.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6fb0", "#d9822b", "#6b9e3a", "#9b59b6", "#c0392b", "#16a085")


def _svg(name: str, width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="{width / 2}" y="18" text-anchor="middle" class="chart-title">{escape(title)}</text>'
        f"{body}</svg>"
    )


def bar_chart_ci(
    name: str, title: str, labels: Sequence[str], values: Sequence[float],
    cis: Sequence[tuple[float, float] | None], *, ymax: float = 1.0, width: int = 520, height: int = 300,
) -> str:
    """Vertical bars with 95% CI whiskers; values in [0, ymax]."""
    left, right, top, bottom = 50, 20, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(values), 1)
    slot = plot_w / n
    bar_w = slot * 0.55

    def y(v: float) -> float:
        return top + plot_h * (1 - max(0.0, min(v, ymax)) / ymax)

    parts = []
    for i in range(6):
        v = ymax * i / 5
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:.0%}</text>'
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + slot * i + (slot - bar_w) / 2
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" height="{top + plot_h - y(value):.1f}" '
            f'fill="{color}"><title>{escape(label)}: {value:.1%}</title></rect>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">'
            f"{escape(label)}</text>"
        )
        ci = cis[i] if i < len(cis) else None
        label_y = y(max(value, ci[1]) if ci is not None else value) - 6
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{label_y:.1f}" text-anchor="middle" class="value">{value:.1%}</text>'
        )
        if ci is not None:
            cx = x + bar_w / 2
            parts.append(
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(ci[0]):.1f}" y2="{y(ci[1]):.1f}" class="whisker"/>'
                f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{y(ci[0]):.1f}" y2="{y(ci[0]):.1f}" class="whisker"/>'
                f'<line x1="{cx - 6:.1f}" x2="{cx + 6:.1f}" y1="{y(ci[1]):.1f}" y2="{y(ci[1]):.1f}" class="whisker"/>'
            )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" class="axis"/>')
    return _svg(name, width, height, title, "".join(parts))


def line_chart(
    name: str, title: str, series: dict[str, Sequence[tuple[float, float]]], *, x_label: str = "step",
    y_label: str = "loss", width: int = 620, height: int = 300,
) -> str:
    """One polyline per series of (x, y) points, with a legend."""
    left, right, top, bottom = 56, 130, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for s in series.values() for p in s]
    if not points:
        points = [(0.0, 0.0), (1.0, 1.0)]
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def sx(v: float) -> float:
        return left + plot_w * (v - x0) / (x1 - x0)

    def sy(v: float) -> float:
        return top + plot_h * (1 - (v - y0) / (y1 - y0))

    parts = []
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end" class="tick">{v:.2f}</text>'
        )
    whole = all(float(p[0]).is_integer() for p in points) and x1 - x0 <= 8  # e.g. severities: every integer
    x_ticks = [x0 + i for i in range(int(x1 - x0) + 1)] if whole else [x0 + (x1 - x0) * i / 4 for i in range(5)]
    for v in x_ticks:
        parts.append(
            f'<text x="{sx(v):.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="tick">{v:,.0f}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" class="tick">{escape(x_label)}</text>'
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" class="tick" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    for i, (label, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2">'
                     f"<title>{escape(label)}</title></polyline>")
        ly = top + 14 + 18 * i
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{left + plot_w + 30}" y="{ly + 1}" class="tick">{escape(label)}</text>'
        )
    return _svg(name, width, height, title, "".join(parts))


def hbar_chart(
    name: str, title: str, items: Sequence[tuple[str, float]], *, width: int = 620, bar_h: int = 20,
    fmt: str = "{:,.0f}",
) -> str:
    """Horizontal bars (e.g. samples removed per reason)."""
    left, right, top = 190, 70, 34
    height = top + bar_h * max(len(items), 1) + 16
    vmax = max((v for _, v in items), default=1.0) or 1.0
    parts = []
    for i, (label, value) in enumerate(items):
        yy = top + i * bar_h
        w = (width - left - right) * value / vmax
        parts.append(
            f'<text x="{left - 6}" y="{yy + bar_h * 0.7:.1f}" text-anchor="end" class="tick">{escape(label)}</text>'
            f'<rect x="{left}" y="{yy + 3}" width="{w:.1f}" height="{bar_h - 6}" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {fmt.format(value)}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{yy + bar_h * 0.7:.1f}" class="value">{fmt.format(value)}</text>'
        )
    return _svg(name, width, height, title, "".join(parts))


def _heat_color(v: float) -> str:
    """Red (0) through yellow to green (1)."""
    v = max(0.0, min(1.0, v))
    r, g = (220, int(60 + 340 * v)) if v < 0.5 else (int(220 - 300 * (v - 0.5)), 230)
    return f"rgb({min(r, 255)},{min(g, 230)},90)"


def heatmap(
    name: str, title: str, rows: Sequence[str], cols: Sequence[str],
    cells: dict[tuple[str, str], tuple[float, int]], *, cell_w: int = 86, cell_h: int = 30,
) -> str:
    """A grid of accuracies (rows x columns), each cell coloured by its value and labelled ``72% n=30``."""
    left, top = 130, 40 + 4 * max((len(c) for c in cols), default=0)  # room for the slanted column labels
    width = left + cell_w * max(len(cols), 1) + 7 * max((len(c) for c in cols[-1:]), default=0)
    height = top + cell_h * max(len(rows), 1) + 12
    parts = []
    for j, col in enumerate(cols):
        x = left + cell_w * j + cell_w / 2
        parts.append(f'<text x="{x:.1f}" y="{top - 6}" text-anchor="start" class="tick" '
                     f'transform="rotate(-35 {x:.1f} {top - 6})">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + cell_h * i
        parts.append(f'<text x="{left - 6}" y="{y + cell_h * 0.62:.1f}" text-anchor="end" class="tick">{escape(row)}</text>')
        for j, col in enumerate(cols):
            x = left + cell_w * j
            cell = cells.get((row, col))
            if cell is None:
                parts.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f2f2f2"/>')
                continue
            value, n = cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{_heat_color(value)}">'
                f"<title>{escape(row)} / {escape(col)}: {value:.1%} (n={n})</title></rect>"
                f'<text x="{x + cell_w / 2 - 1:.1f}" y="{y + cell_h * 0.62:.1f}" text-anchor="middle" class="value">'
                f"{value:.0%} n={n}</text>"
            )
    return _svg(name, width, height, title, "".join(parts))


CSS = """
svg.chart { font-family: system-ui, sans-serif; background: #fff; margin: 8px 0; }
svg.chart .chart-title { font-size: 14px; font-weight: 600; }
svg.chart .tick { font-size: 11px; fill: #444; }
svg.chart .value { font-size: 11px; fill: #111; }
svg.chart .grid { stroke: #e5e5e5; }
svg.chart .axis { stroke: #888; }
svg.chart .whisker { stroke: #111; stroke-width: 1.5; }
"""
