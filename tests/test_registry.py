"""Projects and investments registry: data coverage, provenance, rules, capacity, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from critmin import registry
from critmin.errors import InputError
from critmin.registry.cim import japanese_parent, read_cim

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).parent / "registry_bad"
CIM_CSV = ROOT / "data" / "raw" / "investment" / "cim_manufacturing_facilities_2024Q4.csv"


def critmin(*args: str, cwd: Path | None = None):
    """``critmin ARGS`` in this process (conftest.run_cli), $CRITMIN_REGISTRY unset."""
    return run_cli(*args, env={"CRITMIN_REGISTRY": None}, cwd=cwd)


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.load()


# ---------------------------------------------------------------- coverage and provenance
def test_coverage_done_when(reg: registry.Registry) -> None:
    df = reg.projects_frame()
    assert len(df) >= 60
    assert (df["country"] != "USA").sum() >= 10
    assert len(reg.investments) >= 40
    assert {"rare-earth-magnets", "batteries"} <= set(df["chain"])
    stages = set(df["stage"])
    assert {"magnet", "cell", "separation", "refining", "recycling"} <= stages
    assert {"USA", "JPN", "AUS", "MYS"} <= set(df["country"])


def test_every_record_and_field_group_has_a_source(reg: registry.Registry) -> None:
    for p in reg.projects:
        assert p.sources and all(s.strip() for s in p.sources), p.id
        if p.capacity:
            assert p.capacity.source, p.id
        if p.capex:
            assert p.capex.source, p.id
        for f in p.financiers:
            assert f.source, (p.id, f.name)
        for m in p.milestones:
            assert m.source, (p.id, m.event)
    for v in reg.investments:
        assert v.source and v.source.strip(), v.id
    for e in reg.events:
        assert e["source"], e["id"]


def test_loader_rejects_a_record_without_source(tmp_path: Path) -> None:
    registry.init_registry(tmp_path / "r")
    inv = tmp_path / "r" / "investments_extra.yaml"
    inv.write_text("investments:\n- {id: x1, investor: A, destination_country: USA, sector: s, amount_m: 1,"
                   " year: 2025, status: announced, programme: private}\n")
    with pytest.raises(InputError, match=r"investments\[0\]\.source: missing source"):
        registry.load(str(tmp_path / "r"))


def test_framework_dates_are_data(reg: registry.Registry) -> None:
    ev = {e["id"]: e for e in reg.events}
    assert ev["us-japan-signature"]["date"].isoformat() == "2025-10-28"
    assert ev["us-japan-six-month-financing"]["date"].isoformat() == "2026-04-28"
    assert ev["us-japan-six-month-financing"]["computed"] is True
    assert ev["us-japan-ministerial-180-days"]["date"].isoformat() == "2026-04-26"
    assert ev["us-australia-six-month-pipeline"]["date"].isoformat() == "2026-04-20"


def test_programmes_550bn_and_tranche(reg: registry.Registry) -> None:
    s = reg.summary("programme").set_index("programme")
    assert s.loc["us-japan-550bn", "amount_musd"] == 550000
    assert s.loc["us-japan-550bn-tranche-1", "amount_musd"] == 33000 + 2100 + 600
    assert s.loc["us-japan-550bn-tranche-1", "records"] == 3


# ---------------------------------------------------------------- CIM import and the Japanese rule
def test_build_script_is_deterministic_and_matches_embedded(tmp_path: Path) -> None:
    for out in ("a", "b"):
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_registry.py"), "--out",
                            str(tmp_path / out)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    for name in ("projects_cim.json", "investments_cim.json"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes()
        assert a == (registry.EMBEDDED_REGISTRY / name).read_bytes(), f"{name} is stale: run the build script"


def test_cim_rows_become_projects(reg: registry.Registry) -> None:
    raw = read_cim(CIM_CSV)
    scope = raw[raw["Technology"].isin(["Batteries", "Critical Minerals"])]
    cim_ids = {p.cim_id for p in reg.projects if p.cim_id}
    curated = {c for p in reg.projects for c in p.same_as_cim}
    assert cim_ids | curated == set(scope["unique_id"])
    assert not cim_ids & curated


def test_japanese_company_rule() -> None:
    assert japanese_parent("Toyota") and japanese_parent("Toyota Material Handling")
    assert japanese_parent("Tesla Inc, Panasonic Corp")
    assert japanese_parent("Honda - LGES Partnership")
    assert japanese_parent("UBE Corporation")
    assert japanese_parent("Zekelman (Atlas Tube)") is None
    assert japanese_parent("MSS Steel Tubes") is None
    assert japanese_parent("Tesla") is None
    assert japanese_parent("Envision AESC US") is None
    # the parent is the first pattern that matches; case is ignored; patterns match whole words only
    assert japanese_parent("Tesla Inc, Panasonic Corp") == "Panasonic Holdings"
    assert japanese_parent("PANASONIC ENERGY") == japanese_parent("panasonic energy") == "Panasonic Holdings"
    assert japanese_parent("Hondaland Batteries") is None and japanese_parent("Nidecor LLC") is None


def test_validation_codes_are_the_raw_reference_files() -> None:
    """The registry validates against copies of data/raw/countries/*.csv: they must not drift from them."""
    for name in ("countries.csv", "us_states.csv"):
        assert (registry.EMBEDDED_REGISTRY / name).read_bytes() == (ROOT / "data/raw/countries" / name).read_bytes()


def test_japanese_owned_cim_facilities_tagged(reg: registry.Registry) -> None:
    inv = reg.investments_frame()
    jp = inv[inv["tags"].str.contains("japanese-owned")]
    ids = set(jp["id"])
    for uid in ("b-toyota-nc-0", "b-toyota-nc-3", "b-panasonic-ks-0", "b-tesla-nv-1", "b-honda-oh-0",
                "z-nissan-ms-0", "b-mitsubishi-tn-0", "b-daikin-al-0", "fu-nidec-oh-0"):
        assert f"cim-{uid}" in ids
    assert (jp["investor_country"] == "JPN").all()
    raw = read_cim(CIM_CSV)
    expected = sum(1 for c in raw["Company"] if japanese_parent(c))
    assert len(jp) == expected
    assert set(jp["year"]) <= set(range(2009, 2026))


# ---------------------------------------------------------------- capacity and standing
def test_capacity_from_start_year(reg: registry.Registry) -> None:
    c25 = registry.capacity(reg, 2025, include=["operating", "construction"])
    c27 = registry.capacity(reg, 2027, include=["operating", "construction"])
    assert list(c25.columns[:4]) == ["material", "stage", "country", "capacity_tpy"]
    assert "thacker-pass" not in set(c25["project_id"]) and "thacker-pass" in set(c27["project_id"])
    row = c27.set_index("project_id").loc["thacker-pass"]
    assert (row["material"], row["stage"], row["country"], row["capacity_tpy"]) == ("lithium", "refining", "USA", 40000)
    only_op = registry.capacity(reg, 2027)
    assert set(only_op["status"]) == {"operating"}
    narva = registry.capacity(reg, 2024)
    assert "neo-narva" not in set(narva["project_id"])
    agg = registry.capacity(reg, 2030, include=["operating", "construction", "announced", "feasibility"],
                            aggregate=True)
    mag = agg[(agg["material"] == "ndpr") & (agg["country"] == "USA")]
    assert mag["capacity_tpy"].sum() == 1300 + 850 + 6000
    with pytest.raises(InputError, match="unknown status"):
        registry.capacity(reg, 2027, include=["running"])


def test_capacity_accepts_world_or_none() -> None:
    a = registry.capacity(None, 2026)
    from critmin.world import World

    b = registry.capacity(World.from_tables(), 2026)
    pd.testing.assert_frame_equal(a, b)


def test_capacity_uses_the_registry_in_the_world_folder(tmp_path: Path) -> None:
    from critmin.world import EMBEDDED_WORLD, World

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "datapackage.json").write_bytes((EMBEDDED_WORLD / "datapackage.json").read_bytes())
    registry.init_registry(tmp_path / "w" / "registry")
    (tmp_path / "w" / "registry" / "projects_extra.yaml").write_text(
        "projects:\n- {id: world-only-plant, name: W, owners: [X], country: JPN, chain: rare-earth-magnets,"
        " stage: magnet, material: ndfeb, status: operating, start_year: 2020, sources: [s],"
        " capacity: {value: 10, unit: t/yr, content: magnet, source: s}}\n"
    )
    assert "world-only-plant" in set(registry.capacity(World.from_path(tmp_path / "w"), 2026)["project_id"])
    assert "world-only-plant" not in set(registry.capacity(None, 2026)["project_id"])


def test_add_projects_retry_after_a_rejected_file(tmp_path: Path) -> None:
    registry.init_registry(tmp_path / "r")
    reg = registry.load(str(tmp_path / "r"))
    rec = ("- {id: retry-a, name: A, owners: [X], country: JPN, chain: rare-earth-magnets, stage: magnet,"
           " material: ndfeb, status: announced, sources: [s]}\n")
    f = tmp_path / "new.yaml"
    f.write_text("projects:\n" + rec + rec.replace("retry-a", "retry-b").replace("JPN", "JPX"))
    with pytest.raises(InputError, match=r"projects\[1\]\.country: unknown country"):
        reg.add_projects(f)
    f.write_text("projects:\n" + rec + rec.replace("retry-a", "retry-b"))  # fixed: retry-a is not a duplicate
    assert [p.id for p in reg.add_projects(f)] == ["retry-a", "retry-b"]
    assert {"retry-a", "retry-b"} <= {p.id for p in registry.load(str(tmp_path / "r")).projects}


def test_standing_against_deadline(reg: registry.Registry) -> None:
    st = registry.standing(reg).set_index("id")
    assert st.loc["neo-narva", "vs_deadline"] == "producing before"
    assert st.loc["thacker-pass", "vs_deadline"] == "due after"
    assert st.loc["thacker-pass", "years_after_deadline"] == 1
    assert bool(st.loc["vulcan-elements-magnets", "financing_since_signature"]) is True
    assert bool(st.loc["noveon-san-marcos", "financing_since_signature"]) is False


def test_standing_without_an_october_2025_signature(tmp_path: Path) -> None:
    """A timeline whose only signature predates registry.FRAMEWORKS_FROM counts financing from the deadline."""
    registry.init_registry(tmp_path / "r")
    (tmp_path / "r" / "framework_timeline.yaml").write_text(
        "events:\n- {id: mou, date: 2025-09-04, kind: signature, label: MOU, source: s}\n"
        "- {id: dl, date: 2026-04-28, kind: deadline, label: DL, source: s}\n"
    )
    st = registry.standing(registry.load(str(tmp_path / "r")), deadline_id="dl").set_index("id")
    assert bool(st.loc["vulcan-elements-magnets", "financing_since_signature"]) is False
    assert (st["deadline"] == "2026-04-28").all()


# ---------------------------------------------------------------- CLI
def test_cli_list_json_and_filters() -> None:
    r = critmin("projects", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) >= 60
    for k in ("id", "name", "country", "stage", "material", "capacity_tpy", "status", "sources"):
        assert k in rows[0]
    r = critmin("projects", "list", "--country", "AUS", "--stage", "separation", "--json")
    ids = {x["id"] for x in json.loads(r.stdout)}
    assert {"arafura-nolans", "iluka-eneabba"} <= ids
    assert all(x["country"] == "AUS" for x in json.loads(r.stdout))
    r = critmin("projects", "list", "--chain", "batteries", "--status", "operating", "--csv")
    assert r.returncode == 0
    rows = list(csv.DictReader(r.stdout.splitlines()))
    assert rows and all(x["chain"] == "batteries" and x["status"] == "operating" for x in rows)


def test_cli_show_and_unknown() -> None:
    r = critmin("projects", "show", "arafura-nolans", "--json")
    d = json.loads(r.stdout)
    assert d["capacity"]["value"] == 4440 and d["standing"]["financing_since_signature"] is True
    r = critmin("projects", "show", "arafura-nolan")
    assert r.returncode == 2 and "did you mean arafura-nolans" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("by", ["state", "sector", "year", "programme", "investor_country"])
def test_cli_invest_summary(by: str) -> None:
    r = critmin("invest", "summary", "--by", by, "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and by in rows[0] and "amount_musd" in rows[0]


def test_cli_invest_summary_bad_by() -> None:
    r = critmin("invest", "summary", "--by", "planet", "--json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--by" in r.stderr


def test_cli_timeline_png_and_map_html(tmp_path: Path) -> None:
    png = tmp_path / "t.png"
    assert critmin("projects", "timeline", "--out", str(png)).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_path / "m.html"
    assert critmin("invest", "map", "--out", str(html)).returncode == 0
    text = html.read_text()
    assert "cdn.plot.ly/plotly" not in text and "PlotlyGeoAssets" in text
    r = critmin("invest", "map", "--out", str(tmp_path / "m.pdf"))
    assert r.returncode == 2 and "unsupported file type" in r.stderr


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_cli_add_valid_then_listed(tmp_path: Path) -> None:
    reg_dir = tmp_path / "reg"
    assert critmin("projects", "init", str(reg_dir)).returncode == 0
    new = tmp_path / "new.yaml"
    new.write_text(
        "projects:\n- id: test-jp-magnets\n  name: Test magnet line\n  owners: [Test Co]\n  country: JPN\n"
        "  chain: rare-earth-magnets\n  stage: magnet\n  material: ndfeb\n  status: announced\n"
        "  announced_year: 2025\n  milestones: [{date: 2025-11-03, event: Announced, source: 'note 1'}]\n"
        "  sources: ['https://example.org/test-release']\n"
    )
    r = critmin("projects", "--registry", str(reg_dir), "add", str(new))
    assert r.returncode == 0, r.stderr
    r = critmin("projects", "--registry", str(reg_dir), "list", "--country", "JPN", "--json")
    assert "test-jp-magnets" in {x["id"] for x in json.loads(r.stdout)}
    r = critmin("projects", "--registry", str(reg_dir), "add", str(new))  # same id again
    assert r.returncode == 2 and "duplicate project id" in r.stderr


def test_cli_add_to_embedded_is_refused(tmp_path: Path) -> None:
    before = _digest(registry.EMBEDDED_REGISTRY)
    f = tmp_path / "p.yaml"
    f.write_text("projects: []\n")
    r = critmin("projects", "add", str(f))
    assert r.returncode == 2 and "read-only" in r.stderr
    assert _digest(registry.EMBEDDED_REGISTRY) == before


BAD_FILES = sorted(BAD.glob("*.yaml"))


def test_bad_corpus_size() -> None:
    assert len(BAD_FILES) >= 15


@pytest.fixture(scope="module")
def scratch_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("badreg") / "reg"
    registry.init_registry(d)
    (d / "projects_added.yaml").write_text("projects: []\n")
    return d


@pytest.mark.parametrize("bad", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_registry_input(bad: Path, scratch_registry: Path) -> None:
    expect = bad.read_text().splitlines()[0].removeprefix("# expect: ")
    before = _digest(scratch_registry)
    r = critmin("projects", "--registry", str(scratch_registry), "add", str(bad))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(bad) in lines[0] and expect in lines[0], lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert _digest(scratch_registry) == before
