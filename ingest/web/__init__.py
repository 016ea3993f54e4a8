"""The reading room (`ingest serve`): a read-only Arabic web app over ingest.search and ingest.stories."""
