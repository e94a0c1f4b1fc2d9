"""``world.risk``: one object that hangs every risk metric off a World (PyPSA-style accessor).

The accessor prepares the joined GeoPolRisk/trade inputs once and reuses them for every call, so a
notebook user writes ``world.risk.geopolrisk(importer="JPN")`` or ``world.risk.table("nir")``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from critmin.errors import InputError, did_you_mean
from critmin.world import World

METRICS = ("geopolrisk", "hhi-import", "hhi-production", "nir", "exposure")

#: Old metric names still accepted (with an AliasHint): ``hhi`` was the import-partner HHI of ``risk table``.
METRIC_ALIASES = {"hhi": "hhi-import", "hhi_import": "hhi-import", "hhi_production": "hhi-production",
                  "partner-hhi": "hhi-import", "production-hhi": "hhi-production"}


def metric_id(metric: str) -> str:
    """The canonical metric name (``hhi`` → ``hhi-import`` with an AliasHint); InputError (naming ``metric``)."""
    if metric in METRICS:
        return metric
    if metric in METRIC_ALIASES:
        import warnings

        from critmin.world import AliasHint

        warnings.warn(f"metric '{metric}' read as '{METRIC_ALIASES[metric]}' (import-partner HHI; production "
                      "HHI is 'hhi-production')" if metric == "hhi" else
                      f"metric '{metric}' read as '{METRIC_ALIASES[metric]}'", AliasHint, stacklevel=3)
        return METRIC_ALIASES[metric]
    raise InputError("metric", metric,
                     f"unknown metric; choose {', '.join(METRICS)}{did_you_mean(metric, METRICS, n=1)}")

#: Critical lists behind the default material filter of :meth:`RiskAccessor.table` and ``geopolrisk``.
CRITICAL_DEFAULT = ("usgs-2025", "eu-2023", "japan")


def _listify(v: str | list[str]) -> list[str]:
    return [v] if isinstance(v, str) else [str(x) for x in v]


class RiskAccessor:
    """Risk metrics of one World: concentration, import dependence, GeoPolRisk, EU SR, exposure, table."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._inputs: dict[bool, object] = {}

    def inputs(self, peer_compat: bool = True):
        """The prepared GeoPolRisk inputs (:class:`critmin.risk.geopolrisk.GprInputs`), built once."""
        from critmin.risk.geopolrisk import prepare

        if peer_compat not in self._inputs:
            self._inputs[peer_compat] = prepare(self.world, peer_compat)
        return self._inputs[peer_compat]

    # ------------------------------------------------------------------ concentration
    def concentration(self, material: str | list[str] | None = None, stage: str | list[str] | None = None,
                      year: int | list[int] | None = None, source: str | list[str] | None = None) -> pd.DataFrame:
        """Country shares of production (0–1), rank, HHI (0–1) and China's share per group (see concentration())."""
        from critmin.risk.concentration import concentration

        return concentration(self.world, material, stage, year, source)

    def concentration_summary(self, material: str | list[str] | None = None, stage: str | list[str] | None = None,
                              year: int | list[int] | None = None,
                              source: str | list[str] | None = None) -> pd.DataFrame:
        """One row per material × stage × source × year: HHI (0–1 and 0–10,000), top-1/top-3, China share."""
        from critmin.risk.concentration import hhi_table

        return hhi_table(self.concentration(material, stage, year, source))

    def concentration_trend(self, material: str, stage: str | list[str] | None = None,
                            years: list[int] | tuple[int, int] | None = None,
                            source: str | None = None) -> pd.DataFrame:
        """Production HHI, China's share and top shares per stage × year from one source (see
        :func:`critmin.risk.concentration.concentration_trend`)."""
        from critmin.risk.concentration import concentration_trend

        return concentration_trend(self.world, material, stage, years, source)

    # ------------------------------------------------------------------ dependence
    def import_dependence(self, importer: str | list[str] | None = None, material: str | list[str] | None = None,
                          year: int | list[int] | None = None, partner: str = "CHN") -> pd.DataFrame:
        """Imports, exports, NIR, partner HHI and share from ``partner`` (see dependence_table())."""
        from critmin.risk.dependence import dependence_table

        importer = self.world.importer_ids(importer)
        return dependence_table(self.world, material, importer, year, partner, self.inputs())

    def partner_shares(self, material: str, importer: str, year: int) -> pd.DataFrame:
        """Import shares of ``importer`` by partner for one material and year (t, kUSD, fraction)."""
        from critmin.risk.dependence import partner_shares

        return partner_shares(self.world, material, self.world.importer_id(importer), year, self.inputs())

    # ------------------------------------------------------------------ GeoPolRisk
    def geopolrisk(self, material: str | list[str] | None = None, importer: str | list[str] | None = None,
                   year: int | list[int] | None = None, peer_compat: bool = True,
                   critical_only: bool = True) -> pd.DataFrame:
        """GeoPolRisk score, CF (kg Cu-eq/kg), HHI, import risk, price (kUSD/t) per triple.

        Without ``material``, only critical materials (:meth:`World.critical_materials`) unless
        ``critical_only=False``; a ``material`` given is never filtered.
        """
        from critmin.risk.geopolrisk import geopolrisk_table

        importer = self.world.importer_ids(importer)
        t = geopolrisk_table(self.world, material, importer, year, peer_compat, self.inputs(peer_compat))
        return self._critical(t, material, critical_only)

    def _critical(self, df: pd.DataFrame, material: str | list[str] | None, critical_only: bool) -> pd.DataFrame:
        """Rows of critical materials only when no ``material`` was given and ``critical_only`` is set."""
        if material is not None or not critical_only:
            return df
        keep = self.world.critical_materials(CRITICAL_DEFAULT)
        return df[df["material"].isin(keep)].reset_index(drop=True)

    # ------------------------------------------------------------------ EU SR
    def eu_sr(self, material: str | list[str] | None = None, year: int | None = None,
              inputs: str | Path | pd.DataFrame | None = None, bloc: str = "EU27",
              si_sr: float | None = None) -> pd.DataFrame:
        """EU CRM supply risk: from a CSV/DataFrame of inputs, or computed from the World."""
        from critmin.risk.eu_crm import eu_sr_frame, eu_sr_world, read_inputs

        if inputs is not None:
            df = inputs if isinstance(inputs, pd.DataFrame) else read_inputs(inputs)
            return eu_sr_frame(df)
        return eu_sr_world(self.world, material, year, self.world.importer_id(bloc), si_sr)

    # ------------------------------------------------------------------ exposure
    def exposure(self, importer: str | list[str] | None = None, year: int | None = None,
                 chain: str | list[str] | None = None) -> pd.DataFrame:
        """Direct vs effective (traced through third countries) China share per chain stage."""
        from critmin.risk.exposure import exposure

        chain = None if chain is None else [self.world.chain_id(c) for c in ([chain] if isinstance(chain, str)
                                                                            else chain)]
        return exposure(self.world, self.world.importer_ids(importer), year, chain)

    # ------------------------------------------------------------------ table
    def table(self, metric: str = "geopolrisk", year: int | list[int] | None = None,
              importer: str | list[str] | None = None, material: str | list[str] | None = None,
              critical_only: bool = True) -> pd.DataFrame:
        """The whole table of one metric for every material × importer × year (one array computation).

        Metrics: ``geopolrisk``; ``hhi-import`` (HHI of import partners, per importer); ``hhi-production``
        (HHI of producing countries per material × stage × source × year; takes no ``importer``); ``nir``;
        ``exposure``. The old name ``hhi`` is read as ``hhi-import``.
        By default only materials critical on at least one list (USGS 2025, EU 2023, Japan; see
        :meth:`World.critical_materials`); ``critical_only=False`` keeps every material (fuels included).
        A ``material`` given is never filtered.
        """
        metric = metric_id(metric)
        if metric == "hhi-production":
            if importer is not None:
                raise InputError("importer", ", ".join(_listify(importer)),
                                 "hhi-production is the production HHI of each material, not per importer; "
                                 "use hhi-import for import partners")
            s = self.concentration_summary(material, None, year)
            cols = ["material", "stage", "source", "year", "total", "hhi", "hhi_10k", "china_share", "top1",
                    "top1_share", "top3", "top3_share"]
            return self._critical(s[cols].reset_index(drop=True), material, critical_only)
        if metric == "geopolrisk":
            return self.geopolrisk(material, importer, year, critical_only=critical_only)
        if metric in ("hhi-import", "nir"):
            d = self._critical(self.import_dependence(importer, material, year), material, critical_only)
            if metric == "hhi-import":
                return d[["material", "importer", "year", "imports_t", "partner_hhi", "n_partners", "top_partner",
                          "top_share", "partner_share"]].rename(columns={"partner_share": "china_share"})
            return d[["material", "importer", "year", "imports_t", "exports_t", "production_t",
                      "apparent_consumption_t", "nir"]]
        if isinstance(year, list):
            e = pd.concat([self.exposure(importer, y) for y in year], ignore_index=True)
        else:
            e = self.exposure(importer, year)
        if material is not None:  # exposure rows are chain stages; keep those of the materials asked for
            mats = [material] if isinstance(material, str) else list(material)
            self.world._check_materials(mats)
            e = e[e["material"].isin(mats)].reset_index(drop=True)
        return self._critical(e, material, critical_only)
