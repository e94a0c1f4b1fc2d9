"""``critmin brief`` carries the risk block (import dependence, GeoPolRisk, EU SR, effective China share)."""

from __future__ import annotations

from conftest import run_cli

# brief_run: the session's one ``critmin brief --importer USA,JPN --json --html`` run (conftest)


def test_brief_has_risk_block(brief_run):
    b, html = brief_run
    chains = {c["chain"]: c for c in b["chains"]}
    rows = chains["rare-earth-magnets"]["risk"]
    assert {x["importer"] for x in rows} == {"USA", "JPN"}
    assert [x["stage"] for x in rows if x["importer"] == "JPN"] == ["mining", "separated-oxides", "metal-alloy",
                                                                       "magnet"]
    keys = {"reliance", "reliance_basis", "china_import_share", "geopolrisk", "cf", "eu_sr", "china_share_direct",
            "china_share_effective"}
    assert all(keys <= set(x) for x in rows)
    mining = next(x for x in rows if x["importer"] == "JPN" and x["stage"] == "mining")
    assert 0 < mining["geopolrisk"] < 1 and mining["eu_sr"] > 0 and 0 <= mining["china_share_effective"] <= 1
    assert "China share, effective" in html.read_text()


def test_brief_states_the_eu_sr_judgements(brief_run):
    """Every EU SR value in the brief carries the judgements it rests on, in the JSON, the terminal and the page."""
    b, html = brief_run
    rows = [x for c in b["chains"] for x in c["risk"]]
    with_sr = [x for x in rows if x["eu_sr"] is not None]
    assert with_sr and all(x["eu_sr_note"].startswith("judgements: t = 1;") for x in with_sr)
    assert "SI_SR not in the World: taken as 1" in with_sr[0]["eu_sr_note"]
    without_sr = [x for x in rows if x["eu_sr"] is None]  # materials outside the GeoPolRisk map, e.g. gallium
    assert without_sr and all(x["eu_sr_note"] is None for x in without_sr)
    page = html.read_text()
    assert f"EU SR {with_sr[0]['eu_sr_note']} (docs/risk.md)." in page
    term = run_cli("brief", "--importer", "USA,JPN", env={"COLUMNS": "400"})
    assert term.returncode == 0, term.stderr
    assert f"EU SR {with_sr[0]['eu_sr_note']} (docs/risk.md)" in term.stdout
