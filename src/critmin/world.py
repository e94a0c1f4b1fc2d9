"""The World: every table critmin's analyses stand on, with provenance.

A World is a folder written by ``critmin data build`` (or
``critmin data import-baci``): one Parquet (or CSV) file per table, the chain
definitions as YAML under ``chains/``, and a Frictionless-style
``datapackage.json`` that names each table's columns, units, sources and
licence, plus a content checksum of the build.

``critmin.load()`` returns the embedded default World shipped inside the
package; ``critmin.load(path)`` another build. Tables are tidy long-format
pandas DataFrames; quantities are metric tonnes of the stated content unless a
``unit`` column says otherwise; trade values are thousands of current USD.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from critmin.errors import InputError, did_you_mean

if TYPE_CHECKING:  # pandas is imported where tables are read, so `import critmin` stays light for the CLI
    import pandas as pd

#: The folder of the embedded default World inside the installed package.
EMBEDDED_WORLD = Path(__file__).parent / "data" / "world"

#: Environment variable that points the CLI (and ``load()``) at another World.
WORLD_ENV = "CRITMIN_WORLD"

#: Core tables every World has, in the order ``data info`` lists them.
CORE_TABLES = (
    "countries",
    "blocs",
    "materials",
    "production",
    "reserves",
    "trade",
    "governance",
    "demand",
    "salient",
    "hs_codes",
    "chain_stages",
    "chain_inputs",
    "chain_end_uses",
)

#: Critical lists for :meth:`World.critical_materials`: key -> ``materials`` columns (yes/no/empty, see
#: data/raw/SOURCES.md section 9b). "japan" = either Japanese column (2023 list unconfirmed, 2009 rare metals).
CRITICAL_LISTS: dict[str, tuple[str, ...]] = {
    "usgs-2025": ("usgs_critical_2025",),
    "eu-2023": ("eu_crm_2023",),
    "japan": ("japan_critical_2023", "japan_rare_metals_2009"),
    "japan-2023": ("japan_critical_2023",),
    "japan-2009": ("japan_rare_metals_2009",),
}

#: Other names accepted for importers (blocs and countries): read as the canonical id, with an AliasHint.
IMPORTER_ALIASES: dict[str, str] = {
    "EU": "EU27", "EU-27": "EU27", "EUROPEAN UNION": "EU27", "US": "USA", "JP": "JPN", "JAPAN": "JPN",
    "CN": "CHN", "CHINA": "CHN", "US+JP": "USA+JPN", "USA+JAPAN": "USA+JPN",
}

#: Other names accepted where a chain is expected (the registry's chain names among them).
CHAIN_ALIASES: dict[str, str] = {
    "batteries": "li-ion-batteries", "battery": "li-ion-batteries", "li-ion": "li-ion-batteries",
    "lithium-ion": "li-ion-batteries", "gallium": "gallium-germanium", "germanium": "gallium-germanium",
    "ga-ge": "gallium-germanium", "magnets": "rare-earth-magnets", "ree-magnets": "rare-earth-magnets",
    "rare-earths": "rare-earth-magnets", "antimony": "antimony-tungsten", "tungsten": "antimony-tungsten",
    "sb-w": "antimony-tungsten",
}


class AliasHint(UserWarning):
    """A name was read as its canonical id (``EU`` as ``EU27``); the CLI prints it as one ``hint:`` line."""


def _alias_hint(kind: str, name: str, canonical: str) -> None:
    import warnings

    warnings.warn(f"{kind} '{name}' read as '{canonical}'", AliasHint, stacklevel=3)


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return [str(value)]
    return [str(v) for v in value]


class World:
    """A versioned set of tables with provenance (see module docstring).

    Build one from a folder with :func:`load`, or from in-memory DataFrames with
    :meth:`World.from_tables` (used for hand-built test worlds).
    """

    def __init__(
        self,
        tables: dict[str, pd.DataFrame] | None = None,
        datapackage: dict[str, Any] | None = None,
        path: Path | None = None,
        chains: dict[str, Any] | None = None,
    ) -> None:
        self._tables: dict[str, pd.DataFrame] = dict(tables or {})
        self.datapackage: dict[str, Any] = datapackage or {"resources": []}
        self.path = path
        self._chains = chains

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tables(cls, chains: dict[str, Any] | None = None, **tables: pd.DataFrame) -> World:
        """A World from DataFrames given by table name (missing tables are empty)."""
        return cls(tables=tables, datapackage={"resources": [], "checksum": None}, chains=chains)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> World:
        """Open the World stored in folder ``path`` (tables are read lazily)."""
        p = Path(path)
        dp_file = p / "datapackage.json"
        if not dp_file.is_file():
            raise InputError(str(p), "datapackage.json", "not a critmin World (no datapackage.json)")
        from critmin.datapackage import check_datapackage
        from critmin.safeio import read_json

        dp = check_datapackage(read_json(dp_file), str(dp_file))
        return cls(tables={}, datapackage=dp, path=p)

    # ------------------------------------------------------------------ raw access
    @property
    def table_names(self) -> list[str]:
        names = [r["name"] for r in self.datapackage.get("resources", [])]
        for n in self._tables:
            if n not in names:
                names.append(n)
        return names

    def resource(self, name: str) -> dict[str, Any]:
        """The datapackage entry of table ``name`` (columns, units, sources, licence)."""
        for r in self.datapackage.get("resources", []):
            if r["name"] == name:
                return r
        raise InputError("table", name, f"no such table; tables: {', '.join(self.table_names)}")

    def table(self, name: str) -> pd.DataFrame:
        """Table ``name`` as a DataFrame (a copy-on-write view; do not mutate in place)."""
        import pandas as pd

        if name in self._tables:
            return self._tables[name]
        if self.path is None:
            if name in CORE_TABLES:
                return pd.DataFrame()
            raise InputError("table", name, f"no such table; tables: {', '.join(self.table_names)}")
        res = self.resource(name)
        f = self.table_file(name)
        try:
            if f.suffix == ".parquet":
                df = pd.read_parquet(f)
            else:
                df = pd.read_csv(f, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid/ArrowIOError and pandas' ParserError included
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(str(f), name, f"cannot read the table: {detail}") from None
        if f.suffix != ".parquet":
            for col in res.get("schema", {}).get("fields", []):
                c, typ = col["name"], col.get("type")
                if c not in df.columns:
                    continue
                if typ in ("number", "integer"):
                    text = df[c].replace("", None)
                    values = pd.to_numeric(text, errors="coerce")
                    bad = values.isna() & text.notna()
                    if typ == "integer":
                        bad |= values.notna() & (values % 1 != 0)
                    if bad.any():
                        i = int(bad.to_numpy().argmax())
                        raise InputError(str(f), f"row {i + 2}, column {c}",
                                         f"not {'an integer' if typ == 'integer' else 'a number'}: {text.iloc[i]!r}")
                    df[c] = values.astype("Int64") if typ == "integer" else values
                elif typ == "boolean":  # CSV text "True"/"False"; a non-empty string is always truthy
                    df[c] = df[c].str.lower().map({"true": True, "false": False}).astype(bool)
        rows = res.get("rows")
        if rows is not None and len(df) != rows:  # e.g. a broken quote that merged lines in a CSV table
            raise InputError(str(f), name, f"{len(df):,} rows read, datapackage.json records {rows:,} "
                             "(a broken quote or an edited file?)")
        self._tables[name] = df
        return df

    def table_file(self, name: str) -> Path:
        """The file of table ``name``, checked: inside the World folder, and of the size and hash its
        datapackage entry records (see :func:`critmin.datapackage.verify_table_file`)."""
        from critmin.datapackage import verify_table_file

        if self.path is None:
            raise InputError("table", name, "an in-memory World has no table files")
        try:
            return verify_table_file(self.path, self.resource(name))
        except InputError:
            if self._replaced():
                raise InputError(str(self.path), f"table {name}", "the World was replaced by another build while in "
                                 "use; load it again") from None
            raise

    def _replaced(self) -> bool:
        """Whether the folder now holds another build than the one this World was loaded from."""
        import json

        try:
            now = json.loads((self.path / "datapackage.json").read_text(encoding="utf-8")).get("checksum")
        except (OSError, ValueError, AttributeError, RecursionError):
            return False
        return now is not None and now != self.checksum

    def verify(self) -> None:
        """Check every table file of the World (inside the folder, of the recorded size and hash); InputError
        naming the first damaged table. Cheap when the files were checked before (stat cache)."""
        if self.path is not None:
            for r in self.datapackage.get("resources", []):
                self.table_file(r["name"])

    @property
    def checksum(self) -> str | None:
        """Content checksum of the build (sha256 over every table's canonical bytes)."""
        return self.datapackage.get("checksum")

    # ------------------------------------------------------------------ typed accessors
    def countries(self) -> pd.DataFrame:
        """Countries: ``iso3, name, m49`` (+ iso2, region, centroid)."""
        return self.table("countries")

    def blocs(self) -> pd.DataFrame:
        """Bloc membership: ``bloc, iso3`` (USA+JPN, G7, EU27, QUAD, ALLIES, ...)."""
        return self.table("blocs")

    def materials(self) -> pd.DataFrame:
        """Materials: ``material`` slug, ``name``, ``wmd_name``, ``unit`` (content basis)."""
        return self.table("materials")

    def critical_materials(self, lists: str | Iterable[str] = ("usgs-2025", "eu-2023", "japan")) -> list[str]:
        """Sorted ids of materials marked ``yes`` on at least one of ``lists`` (keys of :data:`CRITICAL_LISTS`).

        Empty (membership not confirmed) counts as not on the list.
        """
        keys = _as_list(lists) or []
        if not keys:
            raise InputError("lists", "", f"name at least one critical list: {', '.join(CRITICAL_LISTS)}")
        mats = self.materials()
        hit = mats["material"].isin([])
        for k in keys:
            if k not in CRITICAL_LISTS:
                raise InputError("lists", k, f"unknown critical list; choose {', '.join(CRITICAL_LISTS)}"
                                 f"{did_you_mean(k, list(CRITICAL_LISTS), n=1)}")
            for col in CRITICAL_LISTS[k]:
                if col not in mats.columns:
                    raise InputError("materials", col, "missing critical-list column in this World")
                hit |= mats[col].astype(str).str.strip().eq("yes")
        return sorted(mats.loc[hit, "material"].astype(str))

    def _filter(self, df: pd.DataFrame, **conds: Any) -> pd.DataFrame:
        import pandas as pd

        mask = pd.Series(True, index=df.index)
        for col, val in conds.items():
            if val is None:
                continue
            if col == "year":
                vals = [int(v) for v in ([val] if isinstance(val, int | str) else val)]
                mask &= df[col].isin(vals)
            else:
                vals = _as_list(val)
                if col == "material":
                    self._check_materials(vals)
                mask &= df[col].isin(vals)
        return df.loc[mask].reset_index(drop=True)

    def _check_materials(self, names: list[str]) -> None:
        mats = self.materials()
        if mats.empty:
            return
        known = set(mats["material"])
        for n in names:
            if n not in known:
                more = did_you_mean(n, known)
                raise InputError("--material", n, f"unknown material{more}")

    def production(
        self,
        material: str | Iterable[str] | None = None,
        stage: str | Iterable[str] | None = None,
        year: int | Iterable[int] | None = None,
        source: str | Iterable[str] | None = None,
        country: str | Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Production: ``material, stage, country, year, quantity, unit, source`` (t of content)."""
        return self._filter(
            self.table("production"), material=material, stage=stage, year=year, source=source, country=country
        )

    def reserves(self, material: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Reserves: ``material, country, year, quantity, unit, source`` (USGS MCS 2025)."""
        return self._filter(self.table("reserves"), material=material)

    def trade(
        self,
        hs6: str | Iterable[str] | None = None,
        year: int | Iterable[int] | None = None,
        exporter: str | Iterable[str] | None = None,
        importer: str | Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Bilateral trade: ``year, exporter, importer, hs6, value_kusd, quantity_t`` (+ ``source``)."""
        return self._filter(self.table("trade"), hs6=hs6, year=year, exporter=exporter, importer=importer)

    def trade_by_code(self, hs6: Iterable[str]) -> dict[str, pd.DataFrame]:
        """Trade rows by HS code (only codes with rows), read once per code and cached on this World.

        Text columns are plain Python strings (object dtype) so that per-stage work on them is cheap.
        """
        import numpy as np
        import pandas as pd

        cache: dict[str, pd.DataFrame] = self.__dict__.setdefault("_trade_by_code", {})
        want = [str(c) for c in hs6]
        missing = [c for c in dict.fromkeys(want) if c not in cache]
        if missing:
            tr = self.trade_dictionary() if "trade" not in self._tables else None
            if tr is None:
                tr = self.table("trade")
            if tr.empty:
                sub = tr
            elif isinstance(tr["hs6"].dtype, pd.CategoricalDtype):
                cats = np.isin(tr["hs6"].cat.categories.astype(str), missing)
                sub = tr[cats[tr["hs6"].cat.codes.to_numpy()]]
            else:
                sub = tr[tr["hs6"].isin(missing)]
            sub = sub.astype({c: object for c in ("exporter", "importer", "hs6", "source") if c in sub.columns})
            for code, g in sub.groupby("hs6", sort=False):
                cache[str(code)] = g.reset_index(drop=True)
            for c in missing:
                cache.setdefault(c, sub.iloc[0:0])
        return {c: cache[c] for c in want if len(cache[c])}

    def trade_dictionary(self) -> pd.DataFrame | None:
        """The whole trade table read once with dictionary-encoded (categorical) text columns, or None when
        the World's trade table is not a Parquet file (then use :meth:`table`). About ten times faster to
        read than the generic reader; filter it on category codes, do not mutate it."""
        if self.path is None:
            return None
        cache = self.__dict__.setdefault("_trade_dictionary", {})
        if "df" not in cache:
            try:
                res = self.resource("trade")
            except InputError:
                return None
            if not str(res["path"]).endswith(".parquet"):
                return None
            f = self.table_file("trade")  # checked: a damaged or missing file is named
            import pyarrow.parquet as pq

            try:
                cache["df"] = pq.read_table(
                    f, read_dictionary=["exporter", "importer", "hs6", "source"]).to_pandas()
            except (OSError, ValueError) as exc:
                detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise InputError(str(f), "trade", f"cannot read the table: {detail}") from None
        return cache["df"]

    def governance(
        self, indicator: str | Iterable[str] | None = None, year: int | Iterable[int] | None = None
    ) -> pd.DataFrame:
        """Governance: ``country, year, indicator, value`` (WGI estimates; ``pv_instability`` 0-1)."""
        return self._filter(self.table("governance"), indicator=indicator, year=year)

    def demand(self, material: str | Iterable[str] | None = None) -> pd.DataFrame:
        """Demand: ``material, sector, scenario, year, quantity, unit, source`` (IEA, t of content)."""
        return self._filter(self.table("demand"), material=material)

    def salient(self, material: str | Iterable[str] | None = None) -> pd.DataFrame:
        """US salient statistics (USGS MCS 2025): ``material, year, statistic, value, unit, flag``."""
        return self._filter(self.table("salient"), material=material)

    # ------------------------------------------------------------------ derived helpers
    def bloc_map(self) -> dict[str, list[str]]:
        """Every bloc's sorted ISO3 members, by bloc name (empty when the World has no blocs table)."""
        blocs = self.blocs()
        return {b: sorted(g["iso3"]) for b, g in blocs.groupby("bloc")} if not blocs.empty else {}

    def importer_id(self, name: str) -> str:
        """The canonical id of an importer: a bloc (``EU27``) or an ISO3 code, from an alias (``EU``) or any
        case (``jpn``), with an :class:`AliasHint`; an unknown name is returned as given."""
        bmap = self.bloc_map()
        countries = self.countries()
        iso = set(countries["iso3"]) if not countries.empty else set()
        if name in bmap or name in iso:
            return name
        key = name.strip().upper()
        canonical = IMPORTER_ALIASES.get(key, key)
        if canonical in bmap or canonical in iso:
            if canonical != name:
                _alias_hint("importer", name, canonical)
            return canonical
        return name

    def importer_ids(self, names: str | Iterable[str] | None) -> list[str] | None:
        """:meth:`importer_id` of each name (``None`` stays ``None``)."""
        names = _as_list(names)
        return None if names is None else [self.importer_id(n) for n in names]

    def chain_id(self, name: str) -> str:
        """The canonical id of a chain from its id, an alias (``batteries``, ``gallium``) or any case, with an
        :class:`AliasHint`; InputError (naming ``chain``) listing the chains when there is none."""
        chains = self.chains
        if name in chains:
            return name
        key = name.strip().lower()
        canonical = CHAIN_ALIASES.get(key, key)
        if canonical in chains:
            _alias_hint("chain", name, canonical)
            return canonical
        known = ", ".join(chains) or "none (the World has no chain files)"
        more = did_you_mean(name, [*chains, *CHAIN_ALIASES], n=1)
        raise InputError("chain", name, f"unknown chain{more}; chains: {known}")

    def bloc_members(self, name: str) -> list[str]:
        """ISO3 members of a bloc, or ``[name]`` for a country; raises InputError (naming ``--importer``) otherwise.

        Aliases and other cases are read through :meth:`importer_id` (``EU`` → ``EU27``)."""
        bmap = self.bloc_map()
        name = self.importer_id(name)
        if name in bmap:
            return bmap[name]
        countries = self.countries()
        if countries.empty or name in set(countries["iso3"]):
            return [name]
        choices = set(countries["iso3"]) | set(bmap)
        more = did_you_mean(name, choices)
        raise InputError("--importer", name, f"neither an ISO3 country nor a bloc{more}")

    @cached_property
    def chains(self) -> dict[str, Any]:
        """Chain definitions by id (validated :class:`critmin.chains.Chain` objects)."""
        if self._chains is not None:
            return self._chains
        from critmin.chains import load_chains

        folder = self.path / "chains" if self.path is not None else None
        if folder is None or not folder.is_dir():
            return {}
        chains = load_chains(folder)
        self._check_chain_references(chains, folder)
        return chains

    def _check_chain_references(self, chains: dict[str, Any], folder: Path) -> None:
        """Chains added to a World folder must name its materials and HS codes, as the build checks."""
        from critmin.chains import check_chain_references

        names = set(self.table_names)
        if "materials" not in names or "hs_codes" not in names:
            return
        materials = set(self.materials()["material"])
        hs = set(self.table("hs_codes")["hs6"])
        for cid, ch in chains.items():
            if any(c not in hs for s in ch.stages for c in s.hs6) and "trade" in names:
                hs |= set(self.table("trade")["hs6"].unique())  # codes met only in trade (as the build allows)
            path = next((str(p) for p in sorted(folder.glob("*.y*ml")) if p.stem == cid), str(folder / cid))
            check_chain_references(ch, path, materials, hs)

    # ------------------------------------------------------------------ analyses hung off the World
    def capacity(self, year: int, include: Iterable[str] = ("operating",), **kwargs: Any) -> pd.DataFrame:
        """Project capacity (t/yr) by material, stage and country online in ``year``.

        Delegates to :func:`critmin.registry.capacity`; ``include`` lists project statuses
        (e.g. ``["operating", "construction"]``) to count from their start year.
        """
        from critmin.registry import capacity

        return capacity(self, year, include, **kwargs)

    def network(self, chain: str, year: int | None = None, case: str = "reported") -> Any:
        """The chain network of ``chain`` (id) at ``year`` (default: latest data): see :mod:`critmin.network`.

        ``case`` is ``"reported"`` (default) or ``"projected"`` (IEA base-case projections counted).
        Built once per (chain, year, case) and cached on this World; treat it as read-only.
        """
        from critmin.network import build_network

        chain = self.chain_id(chain)
        key = (chain, None if year is None else int(year), case)
        cache = self.__dict__.setdefault("_networks", {})
        if key not in cache:
            cache[key] = build_network(self, chain, key[1], case)
        return cache[key]

    def simulate(self, scenario: Any, **kwargs: Any) -> Any:
        """Run a disruption scenario (name, path or Scenario) on this World; see :func:`critmin.simulate.run`."""
        from critmin.simulate import run

        return run(self, scenario, **kwargs)

    def backtest(self, name: str | None = None, **kwargs: Any) -> Any:
        """Run the library's real disruption episodes (or the one named) against history; see
        :func:`critmin.simulate.backtest`."""
        from critmin.simulate import backtest

        return backtest(self, name, **kwargs)

    @cached_property
    def risk(self) -> Any:
        """Risk metrics accessor (concentration, import dependence, GeoPolRisk, EU SR, exposure)."""
        from critmin.risk import RiskAccessor

        return RiskAccessor(self)

    @cached_property
    def optimize(self) -> Any:
        """Decision models: ``world.optimize.stockpile(…)``, ``world.optimize.portfolio(…)`` (docs/optimize.md)."""
        from critmin.optimize import OptimizeAccessor

        return OptimizeAccessor(self)

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"<critmin.World {where} tables={len(self.table_names)} checksum={str(self.checksum)[:12]}>"


def resolve_world_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The World folder to use: ``path``, else ``$CRITMIN_WORLD``, else the embedded one."""
    if path:
        return Path(path)
    env = os.environ.get(WORLD_ENV)
    if env:
        return Path(env)
    return EMBEDDED_WORLD


def load(path: str | os.PathLike[str] | None = None) -> World:
    """Load a World: the embedded default, or the build at ``path`` (or ``$CRITMIN_WORLD``)."""
    return World.from_path(resolve_world_path(path))
