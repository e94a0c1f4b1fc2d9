"""``critmin brief`` carries the risk block (import dependence, GeoPolRisk, EU SR, effective China share)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CRITMIN = str(Path(sys.executable).parent / "critmin")


def test_brief_has_risk_block(tmp_path):
    html = tmp_path / "b.html"
    r = subprocess.run([CRITMIN, "brief", "--importer", "USA,JPN", "--json", "--html", str(html)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    chains = {c["chain"]: c for c in b["chains"]}
    rows = chains["rare-earth-magnets"]["risk"]
    assert {x["importer"] for x in rows} == {"USA", "JPN"}
    assert [x["stage"] for x in rows if x["importer"] == "JPN"] == ["mining", "separated-oxides", "metal-alloy",
                                                                       "magnet"]
    keys = {"nir", "china_import_share", "geopolrisk", "cf", "eu_sr", "china_share_direct", "china_share_effective"}
    assert all(keys <= set(x) for x in rows)
    mining = next(x for x in rows if x["importer"] == "JPN" and x["stage"] == "mining")
    assert 0 < mining["geopolrisk"] < 1 and mining["eu_sr"] > 0 and 0 <= mining["china_share_effective"] <= 1
    assert "China share, effective" in html.read_text()
