"""Exposure and supply-risk metrics (concentration, import dependence, GeoPolRisk, EU SR, indirect exposure).

Entry point for notebook users: :class:`critmin.risk.RiskAccessor` (``world.risk``). See docs/risk.md.
"""

from critmin.risk.accessor import METRICS, RiskAccessor
from critmin.risk.concentration import concentration, hhi_table, import_shares
from critmin.risk.dependence import dependence_table, partner_shares
from critmin.risk.eu_crm import eu_sr, eu_sr_frame, eu_sr_world, read_inputs
from critmin.risk.exposure import chain_exposure, exposure
from critmin.risk.geopolrisk import CF_CU, geopolrisk, geopolrisk_table, prepare

__all__ = [
    "CF_CU", "METRICS", "RiskAccessor", "chain_exposure", "concentration", "dependence_table", "eu_sr",
    "eu_sr_frame", "eu_sr_world", "exposure", "geopolrisk", "geopolrisk_table", "hhi_table", "import_shares",
    "partner_shares", "prepare", "read_inputs",
]
