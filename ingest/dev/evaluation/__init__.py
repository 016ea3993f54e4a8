"""Measurements on real data (``ingest eval ...``): extraction quality and crawl coverage."""
