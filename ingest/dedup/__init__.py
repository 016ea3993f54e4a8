"""Deduplication: exact copies, near-duplicates, same headline, same story (see ``decide``)."""

from ingest.dedup.decide import Decision, Thresholds, decide

__all__ = ["Decision", "Thresholds", "decide"]
