"""tgflow: keeps a Framework360 shop and the TotalGest ERP in sync, run by Temporal."""

__version__ = "0.1.0"
