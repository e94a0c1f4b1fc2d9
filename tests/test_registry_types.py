"""Investment amount types: every amount is typed, and no total adds amounts of different types.

The defect this guards against: the Japanese total added the US$550 bn pledge, the
~US$406 bn fact-sheet candidates under it and the US$35.7 bn first tranche of it,
three descriptions of overlapping money, to US$1.05 trillion.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from critmin import registry
from critmin.errors import InputError
from critmin.registry.plots import invest_map_figure

PLEDGE_ID = "jp-550bn-package"


def critmin(*args: str):
    """``critmin ARGS`` in this process (conftest.run_cli), $CRITMIN_REGISTRY unset."""
    return run_cli(*args, env={"CRITMIN_REGISTRY": None})


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.load()


def _usd(reg: registry.Registry, ids: list[str]) -> float:
    by_id = {v.id: v for v in reg.investments}
    assert all(by_id[i].currency == "USD" for i in ids)
    return sum(by_id[i].amount_m or 0.0 for i in ids)


def _overlapping(reg: registry.Registry) -> dict[str, float]:
    """The three overlapping descriptions of Japan's money, summed from the records themselves."""
    inv = reg.investments
    return {
        "pledge": _usd(reg, [PLEDGE_ID]),
        "fact sheet": _usd(reg, [v.id for v in inv if v.programme == "japan-us-joint-fact-sheet-2025"]),
        "fact sheet (JPN)": _usd(reg, [v.id for v in inv if v.programme == "japan-us-joint-fact-sheet-2025"
                                       and v.investor_country == "JPN"]),
        "tranche": _usd(reg, [v.id for v in inv if v.programme == "us-japan-550bn-tranche-1"]),
    }


# ---------------------------------------------------------------- the data are typed
def test_every_record_is_typed_from_the_vocabulary(reg: registry.Registry) -> None:
    types = set(reg.context.vocab["amount_types"])
    assert {"pledge", "tranche", "commitment", "announced", "disbursed"} <= types
    assert all(v.type in types for v in reg.investments)
    # the embedded files were migrated: every raw record states its type (no default fills it in)
    for f in sorted(registry.EMBEDDED_REGISTRY.glob("investments_*")):
        for i, raw in enumerate(registry.read_records_file(f, "investments")):
            assert raw.get("type") in types, (f.name, i, raw.get("id"))
    cim = [v for v in reg.investments if v.programme == "clean-investment-monitor"]
    assert cim and {v.type for v in cim} == {"estimate"}


def test_the_550bn_pledge_its_tranche_and_fact_sheet(reg: registry.Registry) -> None:
    by_id = {v.id: v for v in reg.investments}
    assert by_id[PLEDGE_ID].type == "pledge"
    tranche = [v for v in reg.investments if v.programme == "us-japan-550bn-tranche-1"]
    sheet = [v for v in reg.investments if v.programme == "japan-us-joint-fact-sheet-2025"]
    assert len(tranche) == 3 and len(sheet) == 16
    assert all(v.type == "tranche" and v.part_of == PLEDGE_ID for v in tranche)
    assert all(v.type == "announced" and v.part_of == PLEDGE_ID for v in sheet)
    # the parts named in the data point at real records
    assert all(v.part_of in by_id for v in reg.investments if v.part_of)


def test_judgement_types_say_so(reg: registry.Registry) -> None:
    """A type that is a judgement is flagged in the record's notes."""
    by_id = {v.id: v for v in reg.investments}
    for rid in ("nippon-steel-us-steel", "doe-novonix-loan", "us-stockpile-2026", "mazda-toyota-huntsville"):
        assert "type is a judgement" in (by_id[rid].notes or ""), rid


# ---------------------------------------------------------------- no total across types
def test_japanese_total_does_not_add_pledge_fact_sheet_and_tranche(reg: registry.Registry) -> None:
    s = reg.summary("investor_country")
    jpn = s[s["investor_country"] == "JPN"].set_index("type")
    assert jpn.index.is_unique  # one row per type: nothing is added across types
    o = _overlapping(reg)
    assert jpn.loc["pledge", "amount_musd"] == o["pledge"] == 550000
    assert jpn.loc["tranche", "amount_musd"] == o["tranche"]
    assert jpn.loc["announced", "amount_musd"] >= o["fact sheet (JPN)"]
    assert jpn.loc["announced", "amount_musd"] < o["pledge"]
    # no cell anywhere equals a sum of two or three of the overlapping descriptions, nor the old total
    cells = {round(float(x), 3) for x in s["amount_musd"].dropna()}
    for k in (2, 3):
        for combo in itertools.combinations(["pledge", "fact sheet", "tranche"], k):
            assert round(sum(o[c] for c in combo), 3) not in cells, combo
            assert round(sum(o[c if c != "fact sheet" else "fact sheet (JPN)"] for c in combo), 3) not in cells
    old_total = reg.investments_frame().query("investor_country == 'JPN'")["amount_musd"].sum()
    assert round(old_total, 3) not in cells
    assert s["amount_musd"].max() == o["pledge"]  # nothing is bigger than the pledge itself


def test_cli_summary_json_is_per_type() -> None:
    r = critmin("invest", "summary", "--by", "investor_country", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    jpn = {x["type"]: x["amount_musd"] for x in rows if x["investor_country"] == "JPN"}
    assert jpn["pledge"] == 550000
    assert len([x for x in rows if x["investor_country"] == "JPN"]) == len(jpn)
    assert jpn["tranche"] < jpn["announced"] < jpn["pledge"]


def test_cli_summary_table_has_one_table_per_type() -> None:
    r = critmin("invest", "summary", "--by", "investor_country")
    assert r.returncode == 0, r.stderr
    assert "550,000" in r.stdout and "not added together" in r.stdout
    assert r.stdout.index("pledge:") < r.stdout.index("tranche:") < r.stdout.index("announced:")


@pytest.mark.parametrize("value", ["all", "pledge,tranche", "total"])
def test_total_across_types_is_refused(value: str) -> None:
    r = critmin("invest", "summary", "--by", "investor_country", "--type", value)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--type" in r.stderr and "never added" in r.stderr and "Traceback" not in r.stderr


def test_summary_one_type_and_by_type(reg: registry.Registry) -> None:
    one = reg.summary("state", "tranche")
    assert set(one["type"]) == {"tranche"} and set(one["state"]) == {"OH", "TX", "GA"}
    by_type = reg.summary("type").set_index("type")
    assert list(by_type.index) == [t for t in reg.context.vocab["amount_types"] if t in by_type.index]
    frame = reg.investments_frame()
    assert by_type.loc["tranche", "amount_musd"] == frame.loc[frame["type"] == "tranche", "amount_musd"].sum()
    with pytest.raises(InputError, match="did you mean pledge"):
        reg.summary("state", "plege")


def test_parts_are_not_added_to_their_parent(reg: registry.Registry) -> None:
    """The EXIM Nolans and Syerston letters of interest are part of the seven-LOI US$2.2 bn record."""
    s = reg.summary("investor_country", "offer").set_index("investor_country")
    usa_offers = [v for v in reg.investments if v.type == "offer" and v.investor_country == "USA"]
    parts = [v.id for v in usa_offers if v.part_of == "exim-australia-lois"]
    assert sorted(parts) == ["exim-nolans-loi", "exim-syerston-loi"]
    whole = _usd(reg, [v.id for v in usa_offers])
    assert s.loc["USA", "amount_musd"] == pytest.approx(whole - _usd(reg, parts))
    assert s.loc["USA", "parts_not_added"] == 2
    # by programme the parts share the parent's row too
    p = reg.summary("programme", "offer").set_index("programme")
    assert p.loc["us-australia-framework-2025", "parts_not_added"] == 2


def _scratch(tmp_path: Path, records: str) -> Path:
    d = tmp_path / "reg"
    registry.init_registry(d)
    (d / "investments_zz.yaml").write_text("investments:\n" + records)
    return d


REC = ("- {{id: {id}, investor: A, investor_country: JPN, destination_country: USA, {extra}sector: s, "
       "amount_m: {amount}, year: 2025, status: announced, programme: private, source: s{tail}}}\n")


def test_parts_rule_on_a_small_registry(tmp_path: Path) -> None:
    recs = "".join(REC.format(id=i, extra=x, amount=a, tail=tl).replace("JPN", "FRA") for i, x, a, tl in [
        ("pk", "", 100, ", type: pledge"),
        ("pk-a", "destination_state: OH, ", 40, ", type: tranche, part_of: pk"),
        ("pk-b", "destination_state: OH, ", 7, ", type: tranche, part_of: pk-a"),
        ("pk-c", "", 30, ", type: pledge, part_of: pk"),
    ])
    reg = registry.load(str(_scratch(tmp_path, recs)))
    s = reg.summary("investor_country")
    fra = s[s["investor_country"] == "FRA"].set_index("type")
    assert fra.loc["pledge", "amount_musd"] == 100 and fra.loc["pledge", "parts_not_added"] == 1  # pk-c in pk
    assert fra.loc["tranche", "amount_musd"] == 40 and fra.loc["tranche", "parts_not_added"] == 1  # pk-b in pk-a
    assert fra.loc["pledge", "records"] == 2 and fra.loc["pledge", "records_in_usd"] == 1
    # by state the parent (no state) and its part fall in different groups: the part counts in its own
    st = reg.summary("state", "tranche").set_index("state")
    portsmouth = _usd(reg, ["jp-550bn-t1-portsmouth-gas"])  # the embedded tranche project in Ohio
    assert st.loc["OH", "amount_musd"] == 40 + portsmouth and st.loc["OH", "parts_not_added"] == 1  # pk-b not added


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("tail", "expect"),
    [
        (", type: plege", "investments[0].type: unknown amount type 'plege' of record 'x1'; did you mean pledge?"),
        ("", "investments[0].type: missing amount type of record 'x1'"),
        (", type: [pledge]", "investments[0].type"),
        (", type: pledge, part_of: nowhere", "investments[0].part_of: record 'x1' is part of unknown investment"),
        (", type: pledge, part_of: x1", "investments[0].part_of: record 'x1' cannot be a part of itself"),
    ],
    ids=["unknown", "missing", "not-a-string", "unknown-parent", "self"],
)
def test_malformed_type_exits_2_with_one_line(tmp_path: Path, tail: str, expect: str) -> None:
    d = _scratch(tmp_path, REC.format(id="x1", extra="", amount=1, tail=tail))
    r = critmin("invest", "--registry", str(d), "summary", "--by", "investor_country")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(d / "investments_zz.yaml") in lines[0] and expect in lines[0], lines[0]


def test_part_of_cycle_is_refused(tmp_path: Path) -> None:
    recs = (REC.format(id="c1", extra="", amount=1, tail=", type: pledge, part_of: c2")
            + REC.format(id="c2", extra="", amount=1, tail=", type: pledge, part_of: c1"))
    with pytest.raises(InputError, match=r"investments\[0\]\.part_of: part_of of record 'c1' loops back"):
        registry.load(str(_scratch(tmp_path, recs)))


def test_old_copied_folder_vocab_without_amount_types(tmp_path: Path) -> None:
    """A registry copied before amount types existed: its vocab.yaml lacks them and the embedded list is used."""
    d = tmp_path / "reg"
    registry.init_registry(d)
    vocab = yaml.safe_load((d / "vocab.yaml").read_text())
    del vocab["amount_types"]
    (d / "vocab.yaml").write_text(yaml.safe_dump(vocab))
    reg = registry.load(str(d))
    assert reg.summary("type")["type"].tolist()[0] == "pledge"
    # its old investment files (no type) are refused with the fix named, not a traceback
    raw = yaml.safe_load((d / "investments_curated.yaml").read_text())
    for rec in raw["investments"]:
        rec.pop("type")
    (d / "investments_curated.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match=r"investments\[0\]\.type: missing amount type of record 'jp-550bn-package'"
                                         r".*one of: pledge"):
        registry.load(str(d))


# ---------------------------------------------------------------- the map
def test_state_map_has_one_layer_per_type(reg: registry.Registry) -> None:
    fig = invest_map_figure(reg)
    layers = [t for t in fig.data if t.type == "choropleth"]
    s = reg.summary("state")
    assert len(layers) >= 3 and sum(bool(t.visible) for t in layers) == 1
    for t in layers:
        ty = t.name.rsplit(": ", 1)[1]
        want = s[(s["type"] == ty) & (s["state"] != "(unknown)")].set_index("state")["amount_musd"].dropna()
        got = {loc: z for loc, z in zip(t.locations, t.z, strict=True) if z}
        assert got == pytest.approx(want.to_dict()), ty
    # Ohio has a tranche and CIM estimates: each layer shows its own figure, none their sum
    oh = {t.name: dict(zip(t.locations, t.z, strict=True))["OH"] for t in layers}
    tranche, estimate = oh["investment by state: tranche"], oh["investment by state: estimate"]
    assert tranche > 0 and estimate > 0 and tranche + estimate not in oh.values()
    first = invest_map_figure(reg, amount_type="tranche")
    assert [t.name for t in first.data if t.type == "choropleth" and t.visible] == ["investment by state: tranche"]
    assert first.layout.title.text.endswith(": tranche")


def test_map_type_option_errors(tmp_path: Path) -> None:
    r = critmin("invest", "map", "--out", str(tmp_path / "m.html"), "--type", "plege")
    assert r.returncode == 2 and "did you mean pledge" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = critmin("invest", "map", "--out", str(tmp_path / "m.html"), "--type", "pledge")  # the pledge has no state
    assert r.returncode == 2 and "no investment of this type in a US state" in r.stderr
    r = critmin("invest", "map", "--world", "--out", str(tmp_path / "m.html"), "--type", "tranche")
    assert r.returncode == 2 and "world map counts projects" in r.stderr
    r = critmin("invest", "map", "--out", str(tmp_path / "m.html"), "--type", "tranche")
    assert r.returncode == 0, r.stderr
    assert "amount type: tranche" in (tmp_path / "m.html").read_text()


def test_every_amount_type_is_documented(reg: registry.Registry) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "registry.md").read_text(encoding="utf-8")
    for ty, text in reg.context.vocab["amount_types"].items():
        assert f"| `{ty}` |" in doc, ty
        assert text.strip(), ty
