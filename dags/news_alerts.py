"""Keyword alerts, whenever news_ingest publishes "new articles": match the just-indexed ids
against every rule, record alerts, deliver what is due (``ingest.alerts.evaluate``)."""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from ingest import airflow_support as support
from ingest.airflow_support import NEW_ARTICLES_ASSET
from ingest.settings import load_settings

KNOBS = load_settings().dag  # parse time: the INGEST_DAG_* environment, no I/O
NEW_ARTICLES = Asset(name=NEW_ARTICLES_ASSET)


@dag(dag_id="news_alerts", schedule=[NEW_ARTICLES], start_date=KNOBS.start_date, catchup=False,
     max_active_runs=1, default_args=KNOBS.default_args(), tags=["news", "alerts"], doc_md=__doc__)
def news_alerts() -> None:
    @task
    def evaluate(triggering_asset_events=None) -> dict:
        doc_ids = support.doc_ids_from_events(triggering_asset_events[NEW_ARTICLES])
        return support.evaluate_alerts(support.settings_from_connection(), doc_ids)

    evaluate()


news_alerts()
