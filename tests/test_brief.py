"""Issue 2, Done-when 6 (brief): ``critmin brief --importer USA,JPN --json`` has the stages and sources;
``--html`` writes a self-contained page (inlined Plotly JS, nothing fetched from the network)."""

from __future__ import annotations

import re
import stat

import pytest

import critmin
from critmin.brief import brief_frame, briefing


def test_brief_json_has_chains_stages_evidence_and_sources(brief_run) -> None:
    b, _ = brief_run
    world = critmin.load()
    assert b["importers"] == ["USA", "JPN"] and b["world_checksum"] == world.checksum
    assert {c["chain"] for c in b["chains"]} == set(world.chains)
    for c in b["chains"]:
        chain = world.chains[c["chain"]]
        assert c["stages"], c["chain"]
        assert [s["stage"] for s in c["stages"]] == [s.id for s in chain.stages if s.id in
                                                      {x["stage"] for x in c["stages"]}]
        for s in c["stages"]:
            assert s["evidence"], (c["chain"], s["stage"])
            for e in s["evidence"]:
                assert e["basis"] in ("production", "exports") and e["source"] and e["year"]
                assert 0 <= e["china_share"] <= 1 and 0 < e["hhi"] <= 1
                assert e["top"] and abs(sum(t["share"] for t in e["top"])) <= 1 + 1e-9
                if e["basis"] == "exports":
                    assert set(e["importers"]) == {"USA", "JPN"}
    names = [s["name"] for s in b["sources"]]
    assert len(names) == len(set(names)), "sources listed twice"
    used = {x.strip() for c in b["chains"] for s in c["stages"] for e in s["evidence"] for x in e["source"].split(",")}
    assert set(names) == used
    assert all(s.get("license") for s in b["sources"])


def test_brief_rare_earth_mining_china_share_from_raw_figures(brief_run) -> None:
    b, _ = brief_run
    ree = next(c for c in b["chains"] if c["chain"] == "rare-earth-magnets")
    mining = next(s for s in ree["stages"] if s["stage"] == "mining")
    usgs = next(e for e in mining["evidence"] if e["basis"] == "production" and e["source"] == "usgs-mcs-2025")
    # USGS MCS 2025: China 270,000 t of a 2024 country sum (world total 390,000 t rounded)
    assert usgs["year"] == 2024 and usgs["top"][0]["country"] == "CHN"
    assert usgs["china_share"] == pytest.approx(270_000 / usgs["total"])
    assert 0.6 < usgs["china_share"] < 0.75


def test_brief_html_is_self_contained(brief_run) -> None:
    _, html = brief_run
    text = html.read_text(encoding="utf-8")
    assert len(text) > 1_000_000  # plotly.js is inlined
    assert "Plotly.newPlot" in text or "Plotly.react" in text
    assert re.search(r"plotly\.js v\d", text)
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", text, flags=re.IGNORECASE)
    assert tags  # the check below is not vacuous: the page has its (inline) scripts
    for tag in tags:
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag, flags=re.IGNORECASE), tag
    assert not re.search(r"""@import\s+(?:url\()?["']?https?://""", text)
    mode = stat.S_IMODE(html.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH, oct(mode)  # not left 0600 by the atomic write


def test_brief_text_table(cli) -> None:
    res = cli("brief", "--importer", "G7")
    assert res.returncode == 0, res.stderr
    assert "G7←CHN" in res.stdout and "rare" in res.stdout.lower()


def test_briefing_api_and_year() -> None:
    world = critmin.load()
    b = briefing(world, ["USA"], year=2022)
    years = {e["year"] for c in b["chains"] for s in c["stages"] for e in s["evidence"]}
    assert years and max(years) <= 2022
    df = brief_frame(b)
    assert {"chain", "stage", "basis", "source", "year", "China", "HHI", "USA from China"} <= set(df.columns)
