"""Drawing a :class:`~muxi_cli.protocol.memstats.MemoryMap`: characters, SVG, HTML.

Pure and standard library only (a remote client without numpy draws what the
server computed). Memory text is user-controlled: in SVG and HTML every text is
escaped (quotes included) after control characters and what XML cannot hold are
dropped, and the files are self-contained: no script, no external font, style or
image; the HTML page also forbids any with its content security policy, so even
a mistake here could not run code. Tooltips are SVG ``<title>`` elements.
"""

from __future__ import annotations

import html
import re

from muxi_cli.protocol.memstats import MemoryMap, cluster_letter
from muxi_cli.termtext import strip_controls

#: A cell of the character plot: empty, or points of more than one cluster.
EMPTY, MIXED = -1, -2
MIXED_CHAR = "*"
#: Cluster colours (cycled; the letter tells clusters apart beyond ten).
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)
#: What XML 1.0 cannot hold, beyond the C0 controls strip_controls removes.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def colour(cluster: int) -> str:
    return PALETTE[cluster % len(PALETTE)]


def one_line(text: str, width: int) -> str:
    """``text`` on one line (controls dropped), cut to ``width`` characters."""
    flat = " ".join(strip_controls(text).split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


# ----------------------------------------------------------------------------- terminal


def plot_cells(m: MemoryMap, width: int, height: int) -> list[list[int]]:
    """A ``height`` x ``width`` grid: each cell the cluster of the points in it,
    :data:`EMPTY` or :data:`MIXED`. Coordinates are -1..1 on both axes; y grows upwards."""
    width, height = max(2, width), max(2, height)
    grid = [[EMPTY] * width for _ in range(height)]
    for p in m.points:
        col = min(width - 1, max(0, round((p.x + 1) / 2 * (width - 1))))
        row = min(height - 1, max(0, round((1 - (p.y + 1) / 2) * (height - 1))))
        cell = grid[row][col]
        grid[row][col] = p.cluster if cell in (EMPTY, p.cluster) else MIXED
    return grid


def plot_lines(m: MemoryMap, width: int, height: int) -> list[str]:
    """The map as text: a cluster's letter where its memories are, ``*`` where
    clusters overlap, spaces elsewhere (the caller frames and colours it)."""
    return [
        "".join(" " if c == EMPTY else MIXED_CHAR if c == MIXED else cluster_letter(c) for c in row)
        for row in plot_cells(m, width, height)
    ]


def legend_lines(m: MemoryMap, width: int) -> list[str]:
    """``A  12  label`` per cluster, largest first, each cut to ``width``."""
    out = []
    for c in sorted(m.clusters, key=lambda c: (-c.size, c.index)):
        head = f"{cluster_letter(c.index)} {c.size:>4}  "
        out.append(head + one_line(c.label, max(8, width - len(head))))
    return out


# ----------------------------------------------------------------------------- files


def xml_text(text: str) -> str:
    """``text`` safe inside an SVG/HTML element or a quoted attribute."""
    return html.escape(_NOT_XML.sub("", strip_controls(text)), quote=True)


def svg(m: MemoryMap, title: str = "", size: int = 640) -> str:
    """The map as one self-contained SVG document (a dot per memory, its text in the
    dot's tooltip; the clusters' labels below the plot)."""
    pad, row_h = 24, 22
    clusters = sorted(m.clusters, key=lambda c: (-c.size, c.index))
    top = 40 if title else pad
    plot = size - 2 * pad
    height = top + plot + pad + row_h * len(clusters) + pad
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{height}" '
        f'viewBox="0 0 {size} {height}" font-family="sans-serif" font-size="13">',
        f"<title>{xml_text(title or 'memory map')}</title>",
        f'<rect x="0" y="0" width="{size}" height="{height}" fill="#ffffff"/>',
    ]
    if title:
        out.append(f'<text x="{pad}" y="26" font-size="16">{xml_text(title)}</text>')
    out.append(
        f'<rect x="{pad}" y="{top}" width="{plot}" height="{plot}" fill="none" stroke="#cccccc"/>'
    )
    inner = plot - 16
    for p in m.points:
        cx = pad + 8 + (p.x + 1) / 2 * inner
        cy = top + 8 + (1 - (p.y + 1) / 2) * inner
        tip = f"{cluster_letter(p.cluster)} · {p.created_at[:10]} · {p.text}"
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{colour(p.cluster)}" '
            f'fill-opacity="0.8"><title>{xml_text(tip)}</title></circle>'
        )
    y = top + plot + pad
    for c in clusters:
        letter = cluster_letter(c.index)
        label = one_line(c.label, 80)
        out.append(
            f"<g><title>{xml_text(c.label)}</title>"
            f'<rect x="{pad}" y="{y}" width="12" height="12" fill="{colour(c.index)}"/>'
            f'<text x="{pad + 20}" y="{y + 11}">{letter} ({c.size}) {xml_text(label)}</text></g>'
        )
        y += row_h
    out.append("</svg>")
    return "\n".join(out) + "\n"


#: Nothing may load or run: inline styles and the inline SVG only.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def html_page(m: MemoryMap, title: str = "") -> str:
    """The map in a self-contained HTML page: the SVG inline, and a table of the
    clusters with their most typical memory."""
    name = title or "memory map"
    rows = "\n".join(
        f'<tr><td style="color:{colour(c.index)}">{cluster_letter(c.index)}</td>'
        f"<td>{c.size}</td><td>{xml_text(c.label)}</td></tr>"
        for c in sorted(m.clusters, key=lambda c: (-c.size, c.index))
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        f"<title>{xml_text(name)}</title>\n"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px;"
        "vertical-align:top}</style>\n"
        f"</head><body>\n<h1>{xml_text(name)}</h1>\n"
        f"<p>{len(m.points)} memories, {len(m.clusters)} clusters. "
        "Hover a dot to read its memory.</p>\n"
        f"{svg(m)}"
        "<table><tr><th></th><th>memories</th><th>most typical</th></tr>\n"
        f"{rows}\n</table>\n</body></html>\n"
    )
