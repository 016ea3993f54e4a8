"""News ingestion, every few minutes: due sources -> poll = discover into the URL frontier (one
mapped task per due source) -> fetch and extract (mapped over groups of hosts with due entries, each
host leased by one task, bounded by a pool) -> dedup and index the staged articles -> publish.

Wiring only: each task calls ``ingest.airflow_support``, which calls ``ingest.pipeline``. A source
that fails is recorded in the summary and never fails the run; Elasticsearch being down does
(the task retries with exponential backoff and re-does its work idempotently).
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, get_current_context, task

from ingest import airflow_support as support
from ingest.airflow_support import NEW_ARTICLES_ASSET
from ingest.settings import load_settings

KNOBS = load_settings().dag  # parse time: the INGEST_DAG_* environment, no I/O
NEW_ARTICLES = Asset(name=NEW_ARTICLES_ASSET)


@dag(dag_id="news_ingest", schedule=KNOBS.schedule, start_date=KNOBS.start_date, catchup=False,
     max_active_runs=1, default_args=KNOBS.default_args(), tags=["news", "ingest"], doc_md=__doc__)
def news_ingest() -> None:
    @task
    def load_sources() -> list[dict]:
        return support.due_sources(support.settings_from_connection())

    @task(map_index_template="{{ source_id }}")
    def poll(source: dict) -> dict:
        get_current_context()["source_id"] = source["id"]  # type: ignore[typeddict-unknown-key]
        return support.poll(support.settings_from_connection(), source)

    @task(trigger_rule="all_done")  # also with no source due: retries and expired leases wait in the frontier
    def plan_fetch(polls: list[dict]) -> list[list[str]]:
        return support.plan_fetch(support.settings_from_connection(), KNOBS.chunk_size)

    @task(pool=KNOBS.fetch_pool)
    def fetch_and_extract(hosts: list[str]) -> dict:
        return support.fetch_and_extract(support.settings_from_connection(), hosts)

    @task(trigger_rule="all_done")  # also when nothing was fetched: a killed run's staged articles
    def dedup_and_index(extracted: list[dict]) -> dict:
        return support.dedup_and_index(support.settings_from_connection(), extracted)

    @task(outlets=[NEW_ARTICLES])
    def publish(indexed: dict, outlet_events=None) -> int:
        return support.publish(indexed, outlet_events[NEW_ARTICLES])

    @task(trigger_rule="all_done")
    def summarize(polls: list[dict], extracted: list[dict], indexed: dict | None) -> dict:
        return support.summarize(polls, extracted, indexed)

    polls = poll.expand(source=load_sources())
    extracted = fetch_and_extract.expand(hosts=plan_fetch(polls))
    indexed = dedup_and_index(extracted)
    publish(indexed)
    summarize(polls, extracted, indexed)


news_ingest()
