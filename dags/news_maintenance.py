"""Daily maintenance: the source-health report (failing and auto-disabled sources, last success,
items per day), cleanup of expired state, housekeeping of indices and aliases."""

from __future__ import annotations

from airflow.sdk import dag, task

from ingest import airflow_support as support
from ingest.settings import load_settings

KNOBS = load_settings().dag  # parse time: the INGEST_DAG_* environment, no I/O


@dag(dag_id="news_maintenance", schedule=KNOBS.maintenance_schedule, start_date=KNOBS.start_date,
     catchup=False, max_active_runs=1, default_args=KNOBS.default_args(), tags=["news", "maintenance"],
     doc_md=__doc__)
def news_maintenance() -> None:
    @task
    def source_health() -> dict:
        return support.source_health(support.settings_from_connection())

    @task
    def cleanup_expired_state() -> dict:
        from ingest import maintenance
        return maintenance.cleanup_expired_state(support.settings_from_connection())

    @task
    def housekeeping() -> dict:
        from ingest import maintenance
        return maintenance.housekeeping(support.settings_from_connection())

    source_health() >> cleanup_expired_state() >> housekeeping()


news_maintenance()
