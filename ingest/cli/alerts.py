"""``ingest alerts``: list and dry-run rules, deliver what is due, show history, export to Kibana."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ingest.settings import Settings

from ingest.cli.common import EXIT_PARTIAL, JsonOption, console, reports_errors, settings
from ingest.cli.text import echo_json, safe

app = typer.Typer(no_args_is_help=True)
KIBANA_OUT = Path("kibana/rules/alerts")


@app.command("list")
@reports_errors
def list_rules() -> None:
    """Show every rule with its query validated by the node, and every unusable rule with the reason."""
    from rich.markup import escape
    from rich.table import Table

    from ingest import store
    from ingest.alerts import load_rules
    from ingest.alerts.matching import validate_rule
    from ingest.alerts.rules import RuleProblem

    cfg = settings()
    ruleset = load_rules(cfg.alerts.rules_file)
    es = store.connect(cfg)
    index = store.alias_name(cfg.es.index_prefix, "articles")
    problems = list(ruleset.problems)
    table = Table("rule", "mode", "channels", "query", "valid", title=str(cfg.alerts.rules_file))
    for rule in ruleset.rules:
        name = rule.name if rule.enabled else f"{rule.name} (disabled)"
        error = validate_rule(es, index, rule)
        if error:
            problems.append(RuleProblem(rule.name, "bad_query", f"Elasticsearch refuses the query: {error}"))
        table.add_row(name, rule.mode, ", ".join(rule.channels), rule.query, "INVALID" if error else "ok")
    console.print(table)
    for problem in problems:
        console.print(f"[red]{escape(problem.rule)}[/red] ({problem.reason}): {escape(problem.message)}")
    if problems:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("test")
@reports_errors
def test_rule(rule_name: str = typer.Argument(..., metavar="RULE"),
              since: str = typer.Option("24h", help="How far back to look: 30m, 24h, 7d."),
              limit: int = typer.Option(500, help="At most this many matching articles.")) -> None:
    """Dry run: what RULE would fire on articles indexed or published since --since (sends nothing)."""
    from ingest import store
    from ingest.alerts import load_rules
    from ingest.alerts.matching import group_by_story, search_rule, since_filter
    from ingest.alerts.rules import RuleError
    from ingest.alerts.schedule import parse_duration

    cfg = settings()
    rule = load_rules(cfg.alerts.rules_file).rule(rule_name)
    start = datetime.now(UTC) - parse_duration(since)
    es = store.connect(cfg)
    try:
        hits = search_rule(es, store.alias_name(cfg.es.index_prefix, "articles"), rule,
                           extra_filters=[since_filter(start)], size=limit)
    except RuleError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_PARTIAL) from exc
    stories = group_by_story(hits)
    console.print(f"rule {rule.name!r} ({rule.mode}) would fire {len(stories)} alert(s) "
                  f"for {len(hits)} article(s) since {start:%Y-%m-%d %H:%M} UTC:")
    for story_id, story_hits in stories.items():
        outlets = dict.fromkeys(h.source_name or h.source_id for h in story_hits)
        terms = dict.fromkeys(t for h in story_hits for t in h.matched_terms)
        console.print(f"• {story_hits[0].title}  [dim](story {story_id})[/dim]\n"
                      f"  {len(outlets)} outlet(s): {'، '.join(o for o in outlets if o)}\n"
                      f"  matched: {'، '.join(terms)}")


@app.command()
@reports_errors
def deliver() -> None:
    """Queue due digests and send every pending delivery (what each evaluate run also does)."""
    from ingest.alerts import evaluate

    report = evaluate(settings(), [])
    console.print(report.to_json_dict())


@app.command()
@reports_errors
def history(rule: str = typer.Option(None, help="Only this rule."),
            status: str = typer.Option(None, help="pending, sending, sent or failed."),
            limit: int = typer.Option(50, help="Most recent first."),
            as_json: JsonOption = False) -> None:
    """Deliveries with their alert, headlines, story, matched terms, channel, status and attempts."""
    from ingest import store
    from ingest.alerts import delivery

    cfg = settings()
    es = store.connect(cfg)
    index = store.alias_name(cfg.es.index_prefix, delivery.DELIVERIES_KIND)
    rows = delivery.history(es, index, rule=rule, status=status, size=limit)
    render_history(rows, _headlines(es, cfg, rows), as_json=as_json)


def _headlines(es: Elasticsearch, cfg: Settings, rows: list[dict]) -> dict[str, str]:
    """Headline of every article the deliveries name (one lookup for the whole page)."""
    from ingest import store
    from ingest.search import articles_by_id

    ids = [i for row in rows for i in row.get("article_ids", [])]
    refs = articles_by_id(es, store.alias_name(cfg.es.index_prefix, "articles"), ids)
    return {i: ref.title for i, ref in refs.items()}


def render_history(rows: list[dict], headlines: dict[str, str], *, as_json: bool) -> None:
    """One plain line per delivery (no truncation, easy to grep) and its headlines; or JSON lines."""
    for row in rows:
        titles = [headlines[i] for i in row.get("article_ids", []) if i in headlines]
        if as_json:
            echo_json({**row, "headlines": titles})
            continue
        console.print(f"{row['created_at'][:19]}  {row['rule']}  {row['kind']} v{row.get('version', 1)}  "
                      f"story={','.join(row.get('story_ids', []))}  "
                      f"articles={','.join(row.get('article_ids', []))}  "
                      f"matched={safe('، '.join(row.get('matched_terms', [])))}  channel={row['channel']}  "
                      f"status={row['status']}  attempts={row.get('attempts', 0)}"
                      + (f"  error={safe(row['error_reason'])}" if row.get("error_reason") else ""),
                      soft_wrap=True, markup=False, highlight=False)
        for title in dict.fromkeys(titles):
            console.print(f"    • {safe(title)}", soft_wrap=True, markup=False, highlight=False)


@app.command()
@reports_errors
def load() -> None:
    """Copy the usable rules from the rules file into the alert_rules index."""
    from ingest import store
    from ingest.alerts import load_rules
    from ingest.alerts.rules import store_rules

    cfg = settings()
    ruleset = load_rules(cfg.alerts.rules_file)
    ids = store_rules(store.connect(cfg), cfg, ruleset, now=datetime.now(UTC))
    console.print(f"{len(ids)} rule(s) stored; {len(ruleset.problems)} problem(s)")


@app.command("export-kibana")
@reports_errors
def export_kibana(out: Annotated[Path, typer.Option(help="Folder for <rule>.json.")] = KIBANA_OUT,
                  time_field: str = typer.Option("indexed_at", help="Articles' time field for the window."),
                  connector_id: str = typer.Option(None, help="Kibana connector for a server-log action.")
                  ) -> None:
    """Write each usable rule as a Kibana `.es-query` rule (body of POST /api/alerting/rule)."""
    from ingest import store
    from ingest.alerts import kibana, load_rules

    cfg = settings()
    ruleset = load_rules(cfg.alerts.rules_file)
    paths = kibana.export(ruleset, out, index=store.alias_name(cfg.es.index_prefix, "articles"),
                          time_field=time_field, connector_id=connector_id)
    for path in paths:
        console.print(f"wrote {path}")
    for problem in ruleset.problems:
        console.print(f"[red]skipped {problem.rule}[/red]: {problem.message}")
