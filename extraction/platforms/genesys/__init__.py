"""Genesys Cloud: HTTP client, flattener, adapter and a local sandbox (genesys-cloud.md)."""
