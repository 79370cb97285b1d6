"""Catalog: fast reads of registered models and versions, kept beside MLflow."""

from ferry_platform.catalog._registry import Catalog, CatalogRegistry

__all__ = ["Catalog", "CatalogRegistry"]
