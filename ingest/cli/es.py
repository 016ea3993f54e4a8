"""``ingest es``: the embedded node's life cycle and the index templates."""

from __future__ import annotations

import typer

from ingest.cli.common import EXIT_UNAVAILABLE, console, reports_errors, settings

app = typer.Typer(no_args_is_help=True)
# The node's life cycle is dev tooling (ingest.dev.node): imported inside those commands only, so
# the runtime commands never load it.


@app.command(name="prepare-host")
@reports_errors
def prepare_host() -> None:
    """Install the node and, as root, create its system user and give it its folders (idempotent)."""
    from ingest.dev import node as esnode

    done = esnode.prepare(settings().files.cache_dir)
    console.print("\n".join(done) if done else "host ready for the embedded node; nothing to change")


@app.command()
@reports_errors
def start(port: int = typer.Option(None, help="HTTP port (default INGEST_ES_NODE_PORT; 0 = the port of "
                                              "the last start, a free one the first time)."),
          heap: str = typer.Option("1g", help="JVM heap, e.g. 1g.")) -> None:
    """Start the embedded node (downloads and builds it the first time), or reuse a running one."""
    from ingest.dev import node as esnode

    cfg = settings()
    node = esnode.start(cfg.files.cache_dir, port=cfg.es.node_port if port is None else port, heap=heap)
    console.print(f"Elasticsearch {esnode.es_version()} running at {node.url} (pid {node.pid})")
    from ingest.cli.stack import sync_news_es  # issue 14: Airflow's news_es follows the node

    if synced := sync_news_es(cfg.files.cache_dir):
        console.print(synced, markup=False)


@app.command()
@reports_errors
def stop() -> None:
    """Stop the embedded node if it is running."""
    from ingest.dev import node as esnode

    stopped = esnode.stop(settings().files.cache_dir)
    console.print("stopped" if stopped else "no embedded node was running")


@app.command()
@reports_errors
def status() -> None:
    """Show the embedded node and the configured cluster's health."""
    from ingest import store
    from ingest.dev import node as esnode

    cfg = settings()
    node = esnode.running(cfg.files.cache_dir)
    console.print(f"embedded node: {node.url + ' (pid ' + str(node.pid) + ')' if node else 'not running'}")
    if not cfg.es.url and node is None:
        raise typer.Exit(EXIT_UNAVAILABLE)
    es = store.connect(cfg, check=False)
    console.print(f"cluster {store.redact_url(store.resolve_url(cfg))}: {store.health(es, cfg.es.url)}")


@app.command()
@reports_errors
def init() -> None:
    """Apply index templates and create the indices behind their aliases (idempotent)."""
    from ingest import store

    cfg = settings()
    aliases = store.apply_templates(store.connect(cfg), cfg)
    console.print("templates applied; aliases: " + ", ".join(aliases), soft_wrap=True)


@app.command()
@reports_errors
def smoke() -> None:
    """Index one Arabic seed report and find it again with a differently spelled query."""
    from ingest import store

    cfg = settings()
    es = store.connect(cfg)
    store.apply_templates(es, cfg)
    from ingest.dev.paths import CorpusPaths

    seed = sorted(CorpusPaths().seeds_dir.glob("000_*.txt"))[0]
    body = seed.read_text(encoding="utf-8")
    alias = store.alias_name(cfg.es.index_prefix, "articles")
    es.index(index=alias, id="smoke-" + seed.stem, refresh="wait_for",
             document={"title": body.splitlines()[0][:120], "body": body, "url": f"file://{seed}"})
    # The text writes "الأرمينية" (hamza on alef, taa marbuta); query a bare alef, heh, and a kasra.
    query = "الارمِينيه"
    hits = es.search(index=alias, query={"match": {"body": query}},
                     highlight={"fields": {"body": {}}}, size=1)["hits"]["hits"]
    if not hits:
        console.print(f"[red]no hit for {query!r}[/red]")
        raise typer.Exit(1)
    snippet = hits[0]["highlight"]["body"][0]
    console.print(f"search {query!r} -> {hits[0]['_id']}: {snippet}")


@app.command()
@reports_errors
def migrate(kind: str = typer.Argument(..., help="Index kind, e.g. articles (mappings/<kind>.json)")) -> None:
    """Move <prefix>-<kind> onto the mapping version in mappings/: new index, copy, atomic alias swap."""
    from ingest import store

    cfg = settings()
    done = store.migrate(store.connect(cfg), cfg, kind)
    if not done.sources:
        console.print(f"{done.alias} already points at {done.target}; nothing to do")
        return
    console.print(f"{done.alias}: {', '.join(done.sources)} -> {done.target} ({done.copied} copied, "
                  f"{done.caught_up} caught up); the old index is kept until you delete it")
