"""Thin adapters: Azure Functions types in, ``provisioning`` calls out."""
