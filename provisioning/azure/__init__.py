"""Adapters over the Azure management SDKs. Each imports its SDK lazily, when first used."""
