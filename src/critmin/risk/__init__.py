"""Exposure and supply-risk metrics (concentration, import dependence, GeoPolRisk, EU SR)."""

from critmin.risk.concentration import concentration, hhi_table, import_shares

__all__ = ["concentration", "hhi_table", "import_shares"]
