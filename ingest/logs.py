"""Logging for the CLI and the Airflow tasks: our decisions and counts at INFO, the clients' at WARNING.

Why: one line per HTTP request (``POST …/_search [status:200]``) drowns the pipeline's own messages;
``ingest.airflow_support`` calls ``quiet_clients()`` so a task log reads like the CLI's output.
"""

from __future__ import annotations

import logging

NOISY = ("elastic_transport", "elasticsearch", "httpx", "httpcore", "trafilatura", "readability", "urllib3")
_verbose = False


def quiet_clients(level: int = logging.WARNING) -> None:
    """The HTTP clients' and extractors' loggers at ``level`` (WARNING: only their problems)."""
    for name in NOISY:
        logging.getLogger(name).setLevel(level)


def setup_logging(verbose: bool) -> None:
    """Root logging for a command; ``verbose`` = DEBUG everywhere (and the details in output)."""
    global _verbose
    _verbose = verbose
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        quiet_clients()


def is_verbose() -> bool:
    """Whether ``-v`` was given (commands show thresholds and other audit detail only then)."""
    return _verbose
