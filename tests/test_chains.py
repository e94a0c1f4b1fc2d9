"""Supply chains as data: the shipped YAML chains and the schema's error messages.

Run from the repository root (the HS checks read the raw BACI product lists in data/raw/trade).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from critmin.chains import (
    SHARE_TOLERANCE,
    Chain,
    Sourced,
    check_chain_references,
    load_chains,
    parse_chain,
)
from critmin.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CHAINS_DIR = ROOT / "src" / "critmin" / "chains"
BAD_DIR = Path(__file__).resolve().parent / "bad_chains"
BACI_PRODUCT_LISTS = [
    ROOT / "data" / "raw" / "trade" / "baci_product_codes_HS92_V202401b.csv",
    ROOT / "data" / "raw" / "trade" / "baci_product_codes_HS12_V202201.csv",
]
CHAIN_FILES = sorted(CHAINS_DIR.glob("*.yaml"))
PRODUCTION_SOURCES = {None, "wmd", "usgs-mcs-2025", "iea-2025"}


@pytest.fixture(scope="module")
def chains() -> dict[str, Chain]:
    return load_chains(CHAINS_DIR)


@pytest.fixture(scope="module")
def hs_codes() -> set[str]:
    codes: set[str] = set()
    for f in BACI_PRODUCT_LISTS:
        with f.open(encoding="utf-8") as fh:
            codes |= {row["code"].zfill(6) for row in csv.DictReader(fh)}
    assert len(codes) > 5000
    return codes


def numbers(chain: Chain) -> list[tuple[str, Sourced]]:
    """Every sourced number of a chain with its field path."""
    out: list[tuple[str, Sourced]] = []
    for i, s in enumerate(chain.stages):
        for j, inp in enumerate(s.inputs):
            out.append((f"stages[{i}].inputs[{j}].factor", inp.factor))
    for k, e in enumerate(chain.end_uses):
        if e.share is not None:
            out.append((f"end_uses[{k}].share", e.share))
        if e.intensity is not None:
            out.append((f"end_uses[{k}].intensity", e.intensity))
    return out


# --- the shipped chains ------------------------------------------------------------------------------


def test_required_chains_ship(chains):
    assert {"rare-earth-magnets", "li-ion-batteries", "gallium-germanium", "antimony-tungsten"} <= set(chains)


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_every_shipped_chain_validates_and_id_is_file_stem(path):
    chain = parse_chain(path)
    assert chain.id == path.stem
    assert chain.stages


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_every_number_has_a_source_or_a_one_line_rationale(path):
    chain = parse_chain(path)
    for where, n in numbers(chain):
        assert n.source or n.assumption, where
        if n.assumption:
            assert n.rationale and n.rationale.strip(), where
            assert "\n" not in n.rationale.strip(), f"{where}: rationale must be one line"
        if n.source:
            assert "UNVERIFIED" not in n.source.upper(), f"{where}: an UNVERIFIED figure is not a source"
        assert n.unit.strip(), where
        if n.low is not None:
            assert n.low <= n.value, where
        if n.high is not None:
            assert n.value <= n.high, where


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_shares_are_fractions_and_sum_to_at_most_one_per_stage(path):
    chain = parse_chain(path)
    totals: dict[str, float] = {}
    for e in chain.end_uses:
        if e.share is not None:
            assert 0 <= e.share.value <= 1
            assert e.share.unit.startswith(f"fraction of {e.stage}"), e.share.unit
            totals[e.stage] = totals.get(e.stage, 0.0) + e.share.value
    for stage, total in totals.items():
        assert total <= 1 + SHARE_TOLERANCE, f"{chain.id}: shares of {stage} add up to {total}"


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_hs_codes_exist_in_baci_product_lists(path, hs_codes):
    chain = parse_chain(path)
    for s in chain.stages:
        for code in s.hs6:
            assert code in hs_codes, f"{chain.id}: {s.id}: HS {code} is in neither BACI HS92 nor HS12"
    check_chain_references(chain, str(path), set(chain.materials), hs_codes)


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_stages_ordered_upstream_first_and_acyclic(path):
    chain = parse_chain(path)
    position = {s.id: i for i, s in enumerate(chain.stages)}
    assert len(position) == len(chain.stages)
    for i, s in enumerate(chain.stages):
        for inp in s.inputs:
            assert position[inp.stage] < i, f"{s.id} takes {inp.stage}, which is not upstream"
    # every stage but the roots has an input, and every non-final stage feeds something or has end uses
    fed = {inp.stage for s in chain.stages for inp in s.inputs}
    used = {e.stage for e in chain.end_uses}
    for s in chain.stages[:-1]:
        assert s.id in fed or s.id in used, f"{chain.id}: stage {s.id} leads nowhere"


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_materials_stages_and_production_series(path):
    chain = parse_chain(path)
    for s in chain.stages:
        assert s.material in chain.materials, s.id
        assert s.content.strip(), s.id
        if s.production is not None:
            assert s.production.material in chain.materials, s.id
            assert s.production.source in PRODUCTION_SOURCES, s.id
        else:
            assert s.note, f"{chain.id}: {s.id} has no production series and no note saying why"


@pytest.mark.parametrize("path", CHAIN_FILES, ids=lambda p: p.stem)
def test_defence_sectors_are_flagged(path):
    chain = parse_chain(path)
    for e in chain.end_uses:
        if e.sector in {"defence", "defence-electronics", "munitions"}:
            assert e.defence, f"{chain.id}: {e.name} must carry defence: true"
        if e.share is None and e.intensity is None:
            assert e.note, f"{chain.id}: {e.name} has no number and no note saying why"


def test_rare_earth_magnets_chain(chains):
    c = chains["rare-earth-magnets"]
    assert [s.id for s in c.stages] == ["mining", "separated-oxides", "metal-alloy", "magnet"]
    assert c.stage("mining").production.material == "rare-earths"
    assert c.stage("separated-oxides").production.material == "magnet-rare-earths"
    assert c.stage("magnet").production is None
    assert c.stage("magnet").hs6 == ["850511"]
    magnet_in = c.stage("magnet").inputs[0]
    assert magnet_in.stage == "metal-alloy" and magnet_in.factor.value == pytest.approx(0.31)
    assert "Yang" in magnet_in.factor.source
    metal_in = c.stage("metal-alloy").inputs[0]
    assert metal_in.factor.value == pytest.approx(1 / (0.8574 * 0.8), rel=1e-3)
    assert "0.8574" in metal_in.factor.source and "Heim" in metal_in.factor.source
    sectors = {e.sector for e in c.end_uses}
    assert {"ev-traction-motors", "wind", "defence", "electronics", "industrial-motors"} <= sectors
    ev = next(e for e in c.end_uses if e.sector == "ev-traction-motors")
    assert ev.share.value == pytest.approx(8.36 / 90.92, abs=1e-3)
    assert ev.intensity.value == pytest.approx(2.0)
    f35 = next(e for e in c.end_uses if e.intensity is not None and "F-35" in e.intensity.unit)
    assert f35.intensity.value == pytest.approx(417) and f35.defence


def test_battery_chain(chains):
    c = chains["li-ion-batteries"]
    assert set(c.materials) == {"lithium", "nickel", "cobalt", "manganese", "graphite"}
    kinds = {s.id: s.kind for s in c.stages}
    assert kinds["cathode"] == "material" and kinds["anode-graphite"] == "material"
    assert kinds["cells"] == "component"
    cathode_inputs = {i.stage for i in c.stage("cathode").inputs}
    assert cathode_inputs == {"lithium-chemicals", "nickel-refining", "cobalt-refining", "manganese-mining"}
    assert {"ev", "grid-storage", "defence"} <= {e.sector for e in c.end_uses}


def test_gallium_germanium_chain(chains):
    c = chains["gallium-germanium"]
    assert {"gallium", "germanium"} <= set(c.materials)
    assert c.stage("gallium").production.material == "gallium"
    assert {"semiconductors", "defence-electronics"} <= {e.sector for e in c.end_uses}


def test_antimony_tungsten_chain(chains):
    c = chains["antimony-tungsten"]
    assert set(c.materials) == {"antimony", "tungsten"}
    assert {"munitions", "hardmetals"} <= {e.sector for e in c.end_uses}
    hardmetals = next(e for e in c.end_uses if e.sector == "hardmetals")
    assert hardmetals.share.value == pytest.approx(0.65) and "ITIA" in hardmetals.share.source


# --- malformed chains --------------------------------------------------------------------------------

BAD = [
    ("unknown_stage_reference", "stages[1].inputs[0].stage", "unknown stage 'mine'"),
    ("hs_code_not_six_digits", "stages[0].hs6[0]", "not six digits"),
    ("hs_code_unquoted", "stages[0].hs6[0]", "valid string"),
    ("negative_factor", "stages[1].inputs[0].factor.value", "greater than or equal to 0"),
    ("factor_without_source", "stages[1].inputs[0].factor", "needs a source"),
    ("assumption_without_rationale", "stages[1].inputs[0].factor", "needs a one-line rationale"),
    ("low_above_high", "stages[1].inputs[0].factor", "low is above high"),
    ("duplicate_stage_id", "stages[1].id", "duplicate stage id 'mining'"),
    ("unknown_field", "stages[0].colour", "Extra inputs are not permitted"),
    ("invalid_yaml", "line 8", "invalid YAML"),
    ("not_a_mapping", "", "must be a YAML mapping"),
    ("end_use_unknown_stage", "end_uses[0].stage", "unknown stage 'magnets'"),
    ("shares_above_one", "end_uses[1].share", "add up to 1.3, more than 1"),
    ("share_not_a_fraction", "end_uses[0].share", "fraction between 0 and 1"),
    ("stage_out_of_order", "stages[0].inputs[0].stage", "must come before"),
    ("self_reference", "stages[1].inputs[0].stage", "cannot be its own input"),
    ("missing_content", "stages[0].content", "Field required"),
    ("unknown_stage_kind", "stages[0].kind", "Input should be"),
    ("bad_production_stage", "stages[0].production.stage", "'mining' or 'refining'"),
]


def test_every_bad_chain_file_is_covered():
    assert {p.stem for p in BAD_DIR.glob("*.yaml")} == {name for name, _, _ in BAD}
    assert len(BAD) >= 8


@pytest.mark.parametrize(("name", "field", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_chain_gives_input_error_naming_file_and_field(name, field, problem):
    path = BAD_DIR / f"{name}.yaml"
    with pytest.raises(InputError) as info:
        parse_chain(path)
    err = info.value
    msg = str(err)
    assert err.source == str(path)
    assert msg.startswith(f"{path}: ")
    assert err.field == field
    if field:
        assert f"{path}: {field}: " in msg
    assert problem in msg
    assert "\n" not in msg


def test_load_chains_rejects_a_folder_with_a_bad_file(tmp_path):
    (tmp_path / "good.yaml").write_text((CHAINS_DIR / "antimony-tungsten.yaml").read_text(encoding="utf-8"))
    (tmp_path / "bad.yaml").write_text((BAD_DIR / "negative_factor.yaml").read_text(encoding="utf-8"))
    with pytest.raises(InputError, match=r"bad\.yaml: stages\[1\]\.inputs\[0\]\.factor\.value"):
        load_chains(tmp_path)


def test_load_chains_rejects_duplicate_chain_ids(tmp_path):
    text = (CHAINS_DIR / "antimony-tungsten.yaml").read_text(encoding="utf-8")
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(InputError, match=r"b\.yaml: id: duplicate chain id 'antimony-tungsten'"):
        load_chains(tmp_path)


# --- references to the World's materials and HS codes ------------------------------------------------


def test_check_chain_references_unknown_material(chains, hs_codes):
    c = chains["rare-earth-magnets"]
    with pytest.raises(InputError) as info:
        check_chain_references(c, "rare-earth-magnets.yaml", {"rare-earths"}, hs_codes)
    assert str(info.value) == "rare-earth-magnets.yaml: materials[1]: unknown material 'magnet-rare-earths'"


def test_check_chain_references_unknown_stage_material(chains, hs_codes):
    c = chains["rare-earth-magnets"].model_copy(deep=True)
    c.stages[0].material = "unobtainium"
    with pytest.raises(InputError, match=r"x\.yaml: stages\[0\]\.material: unknown material 'unobtainium'"):
        check_chain_references(c, "x.yaml", set(c.materials), hs_codes)


def test_check_chain_references_unknown_hs_code(chains, hs_codes):
    c = chains["rare-earth-magnets"]
    codes = hs_codes - {"850511"}
    with pytest.raises(InputError) as info:
        check_chain_references(c, "rare-earth-magnets.yaml", set(c.materials), codes)
    assert str(info.value) == "rare-earth-magnets.yaml: stages[3].hs6[0]: unknown HS code '850511'"


def test_check_chain_references_passes_for_shipped_chains(chains, hs_codes):
    materials = {m for c in chains.values() for m in c.materials}
    for c in chains.values():
        check_chain_references(c, c.id, materials, hs_codes)


# --- documentation -----------------------------------------------------------------------------------


def test_docs_table_lists_every_number(chains):
    """docs/chains.md has a table row for every factor, share and intensity of every chain."""
    doc = (ROOT / "docs" / "chains.md").read_text(encoding="utf-8")
    for c in chains.values():
        assert f"### `{c.id}`" in doc, c.id
        section = doc.split(f"### `{c.id}`", 1)[1].split("\n### ", 1)[0]
        for s in c.stages:
            for inp in s.inputs:
                assert f"| `{s.id}` ← `{inp.stage}` | factor | {inp.factor.value:g}" in section, (c.id, s.id)
        for e in c.end_uses:
            for kind, n in (("share", e.share), ("intensity", e.intensity)):
                if n is not None:
                    row = f"| `{e.stage}` → `{e.sector}`: {e.name} | {kind} | {n.value:g}"
                    assert row in section, (c.id, e.name, kind)


# --- against the embedded World ----------------------------------------------------------------------


def test_chains_match_the_world(chains, hs_codes):
    """Materials exist in the World and every named production series has rows."""
    import critmin

    world = critmin.load()  # the embedded World is committed: its absence is a failure, not a skip
    materials = set(world.materials()["material"])
    production = world.production()
    for c in chains.values():
        check_chain_references(c, c.id, materials, hs_codes)
        for s in c.stages:
            if s.production is None:
                continue
            rows = production[
                (production["material"] == s.production.material) & (production["stage"] == s.production.stage)
            ]
            if s.production.source:
                rows = rows[rows["source"] == s.production.source]
            assert len(rows), f"{c.id}: {s.id}: no World production rows for {s.production}"
