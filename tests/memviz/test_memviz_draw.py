"""The pure parts of memory visualisation: figures from rows, the projection and
clustering, and the drawings (terminal, SVG, HTML) with hostile memory text."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from muxi_cli.memory.figures import memory_stats
from muxi_cli.memory.mapping import auto_clusters, kmeans, memory_map, project
from muxi_cli.protocol.memstats import MapCluster, MapPoint, MemoryMap, MemoryStats
from muxi_cli.tui import mapdraw
from muxi_cli.tui.memstats_text import stats_lines

DAY = 86400.0
NOW = 1_800_000_000.0
EVIL = "</title><script>alert(\"x\")</script> & 'quotes' \x1b]52;c;AAAA\x07 \ud800end"


def row(i: str, text: str, age_days: float, **kw: object) -> dict[str, object]:
    at = NOW - age_days * DAY
    return {"id": i, "user_id": "alice", "kind": "fact", "text": text, "created_at": at,
            "updated_at": at, "last_used_at": at, "use_count": 0, "importance": 0.5,
            "superseded_by": None, **kw}  # fmt: skip


def test_figures_count_ages_decay_and_chains() -> None:
    rows = [
        row("a1", "User lives in Berlin", 200, superseded_by="a2"),
        row("a2", "User lives in Paris", 40, superseded_by="a3"),
        row("a3", "User moved to Lisbon", 0.5),
        row("b1", "User likes tea", 3, kind="knowledge"),
        row("c1", "old note", 5, superseded_by="gone"),  # its successor was forgotten
    ]
    s = memory_stats("alice", rows, NOW)
    assert (s.current, s.superseded, s.total) == (2, 3, 5)
    assert s.by_kind == {"fact": 1, "knowledge": 1}
    assert dict(s.by_age) == {
        "today": 1, "this week": 1, "this month": 0, "3 months": 0, "this year": 0, "older": 0
    }  # fmt: skip
    assert sum(s.decay_bins) == 2 and s.decay_avg is not None and 0 < s.decay_avg <= 1
    assert s.chain_count == 1
    assert [link.text for link in s.chains[0]] == [
        "User lives in Berlin",
        "User lives in Paris",
        "User moved to Lisbon",
    ]
    assert s.chains[0][0].created_at < s.chains[0][-1].created_at
    assert MemoryStats.from_dict(s.to_dict()) == s


def _two_topics(n: int, dims: int = 16) -> list[dict[str, object]]:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(n):
        base = np.zeros(dims)
        base[0 if i % 2 else 5] = 1.0
        vec = base + rng.normal(0, 0.05, dims)
        topic = "tea and coffee" if i % 2 else "cycling routes"
        rows.append(row(f"m{i:02d}", f"{topic} #{i}", i, vector=vec.tolist()))
    return rows


def test_the_map_is_deterministic_and_clusters_by_meaning() -> None:
    rows = _two_topics(12)
    first = memory_map("alice", rows, clusters=2, model="m")
    again = memory_map("alice", list(reversed(rows)), clusters=2, model="m")
    assert first == again  # same picture whatever order the store returns
    assert len(first.points) == 12 and len(first.clusters) == 2
    by_id = {p.id: p.cluster for p in first.points}
    for i in range(12):  # each topic is one cluster
        assert by_id[f"m{i:02d}"] == by_id["m00" if i % 2 == 0 else "m01"]
    labels = sorted(c.label.split(" #")[0] for c in first.clusters)
    assert labels == ["cycling routes", "tea and coffee"]
    assert all(-1 <= p.x <= 1 and -1 <= p.y <= 1 for p in first.points)
    assert MemoryMap.from_dict(first.to_dict()) == first


def test_projection_signs_are_fixed_and_small_inputs_work() -> None:
    unit = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0]])
    coords, explained = project(unit)
    flipped, _ = project(-unit)  # the same shape mirrored: SVD may flip signs, we fix them
    assert coords.shape == (4, 2) and sum(explained) <= 1.0
    assert np.allclose(np.abs(coords), np.abs(flipped))
    one = memory_map("alice", [row("x", "alone", 1, vector=[1.0, 0.0])])
    assert [(p.x, p.y) for p in one.points] == [(0.0, 0.0)] and len(one.clusters) == 1
    assert memory_map("alice", [row("y", "no vector", 1)]).points == []
    labels, _ = kmeans(np.array([[0.0, 0.0], [0.0, 0.0]]), 2)  # fewer distinct points
    assert labels.tolist() == [0, 0]
    assert [auto_clusters(n) for n in (0, 2, 5, 50, 5000)] == [1, 1, 2, 5, 8]


def _hostile_map() -> MemoryMap:
    return MemoryMap(
        user_id="alice",
        points=[
            MapPoint("p1", -1.0, 1.0, 0, EVIL),
            MapPoint("p2", 1.0, -1.0, 1, "tea"),
            MapPoint("p3", 0.99, -0.99, 0, "near tea"),
        ],
        clusters=[MapCluster(0, 2, EVIL, "p1"), MapCluster(1, 1, "tea", "p2")],
    )


def test_svg_and_html_escape_memory_text_and_load_nothing() -> None:
    m = _hostile_map()
    svg = mapdraw.svg(m, title=EVIL)
    page = mapdraw.html_page(m, title=EVIL)
    for text in (svg, page):
        assert "<script" not in text.lower() and "\x1b" not in text and "\ud800" not in text
        assert "&lt;script&gt;" in text and "&quot;x&quot;" in text and "&#x27;quotes&#x27;" in text
        assert not re.search(r"(href|src)=|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", text)
    tree = ET.fromstring(svg)  # well-formed XML: nothing broke out of its element
    titles = [t.text for t in tree.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t and "<script>" in t for t in titles)  # the tooltip reads the real text
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_character_plot_fits_and_marks_overlaps() -> None:
    m = _hostile_map()
    lines = mapdraw.plot_lines(m, 30, 10)
    assert len(lines) == 10 and all(len(line) == 30 for line in lines)
    assert lines[0][0] == "A"
    assert lines[-1][-1] == mapdraw.MIXED_CHAR  # p2 (B) and p3 (A) share a cell
    legend = mapdraw.legend_lines(m, 40)
    assert legend[0].startswith("A    2") and all(len(line) <= 40 for line in legend)
    assert "\x1b" not in "".join(legend)


@pytest.mark.parametrize("width", [60, 120])
def test_stats_lines_read_well(width: int) -> None:
    s = memory_stats("alice", [row("a", EVIL, 1), row("b", "tea", 2, superseded_by="a")], NOW)
    lines = stats_lines(s, width=width)
    text = "\n".join(lines)
    assert "1 current, 1 replaced" in text and "recalls before turns: 0" in text
    assert "\x1b" not in text
    assert all(len(line) <= width for line in lines if line.startswith("  "))


def test_a_remote_client_install_draws_without_numpy() -> None:
    """The base install (no numpy, LanceDB or FastAPI) imports the commands and the
    screen, and draws a map the server computed."""
    root = Path(__file__).resolve().parents[2]
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r});"
        "from tests.hideparts import HideModules;"
        "sys.meta_path.insert(0, HideModules({'numpy', 'lancedb', 'fastapi', 'pyarrow'}));"
        "import muxi_cli.cli.memory_store, muxi_cli.cli.memory_viz, muxi_cli.runtime.remote;"
        "import muxi_cli.tui.screens.memory, muxi_cli.tui.screens.memory_viz as v;"
        "from muxi_cli.protocol.memstats import MemoryMap; from muxi_cli.tui import mapdraw;"
        "m = MemoryMap.from_dict({'user_id': 'a', 'points': [{'id': 'p', 'x': 0, 'y': 0,"
        " 'cluster': 0, 'text': 't'}], 'clusters': [{'index': 0, 'size': 1, 'label': 't'}]});"
        "assert 'A' in v.map_text(m, 30).plain and '<svg' in mapdraw.svg(m);"
        "assert 'numpy' not in sys.modules; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_a_memory_with_a_broken_vector_is_left_off_the_map() -> None:
    # One vector with NaN or infinity (a broken embedding) made the SVD fail, and
    # with it the whole map; now that memory is simply not drawn.
    rows = [
        row("a", "tea", 3, vector=[1.0, 0.0, 0.0]),
        row("b", "broken", 2, vector=[float("nan"), 0.0, 1.0]),
        row("c", "coffee", 1, vector=[0.0, 1.0, 0.0]),
        row("d", "huge", 1, vector=[float("inf"), 0.0, 0.0]),
    ]
    m = memory_map("alice", rows, 26)
    assert [p.id for p in m.points] == ["a", "c"]
    assert all(np.isfinite([p.x, p.y]).all() for p in m.points)


def test_a_map_from_a_server_is_drawn_with_its_numbers_as_numbers() -> None:
    # The SVG file has no content security policy: a server sending a cluster's
    # size (or a point's place) as text must not get markup into it.
    evil = "<script>alert(1)</script>"
    data = MemoryMap(
        "alice", [MapPoint("p1", 0.5, -0.5, 0, "tea")], [MapCluster(0, 1, "tea", "p1")]
    ).to_dict()
    data["clusters"][0]["size"] = evil
    with pytest.raises(ValueError):
        MemoryMap.from_dict(data)
    data["clusters"][0]["size"] = "3"
    data["points"][0].update(x="0.5", cluster="0")
    m = MemoryMap.from_dict(data)
    assert (m.clusters[0].size, m.points[0].x, m.points[0].cluster) == (3, 0.5, 0)
    assert "<script" not in mapdraw.svg(m) + mapdraw.html_page(m)


def test_stats_from_a_server_print_no_escape_sequences() -> None:
    # Memory text was cleaned, but not the kinds, dates, ids and agent names a
    # server sends: OSC 52 (write the clipboard) or a clear-screen reached the terminal.
    clear, clip = "\x1b[2J", "\x1b]52;c;QQ==\x07"
    s = MemoryStats.from_dict(
        {
            "user_id": "alice",
            "current": 1,
            "by_kind": {clear + "fact": 1},
            "by_age": [["today" + clear, 1]],
            "decay_bins": [1],
            "chain_count": 1,
            "chains": [[{"id": "a", "text": "tea", "created_at": clear + "2026"}]],
            "recalls": 1,
            "recall_turns": 1,
            "top_recalled": [{"memory_id": clear + "m1", "count": 1, "last_at": clear}],
            "recent_recalls": [
                {"at": clear, "session_id": clear, "memory_id": "m1", "agent": clip + "coder"}
            ],
        }
    )
    text = "\n".join(stats_lines(s))
    assert "\x1b" not in text and "\x07" not in text
    assert "coder" in text and "fact 1" in text


def test_stats_from_a_server_are_read_with_numbers_as_numbers() -> None:
    # The memory screen formats scores with :.2f in its worker: text there (a
    # proxy, an odd server) raised and closed the chat app; now reading refuses it.
    data = MemoryStats("alice", current=1).to_dict()
    data.update(
        decay_avg="0.5",
        top_recalled=[{"memory_id": "m1", "count": "2", "avg_score": "0.25"}],
        recent_recalls=[{"at": "", "session_id": "s", "memory_id": "m1", "score": 1}],
    )
    s = MemoryStats.from_dict(data)
    assert (s.decay_avg, s.top_recalled[0].count, s.top_recalled[0].avg_score) == (0.5, 2, 0.25)
    assert s.recent_recalls[0].score == 1.0 and stats_lines(s)
    data["top_recalled"][0]["avg_score"] = "high"
    with pytest.raises(ValueError):
        MemoryStats.from_dict(data)
