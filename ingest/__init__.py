"""Arabic-first news ingestion: feeds -> articles -> dedup -> Elasticsearch.

Each stage is a plain module over plain data; Airflow DAGs, the CLI and the tests call the same
functions.
"""

__version__ = "0.1.0"
