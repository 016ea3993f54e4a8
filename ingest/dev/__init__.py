"""The development stack: what developers, tests, benchmarks and evaluations need and production never runs.

Why a package of its own: the runtime (everything else under ``ingest/``, what the Airflow image
installs) must not carry or import the tools around it; ``tests/test_layout.py`` checks that no
runtime module loads ``ingest.dev``. Here: ``node/``, the embedded Elasticsearch (build, install,
host preparation, start/stop/reuse); ``evaluation/``, the measurements on real data (``ingest eval``)
and the one loopback HTTP server (``evaluation/server.py``) that tests, benchmarks, the simulated
web and the demo share; ``demo.py`` with its data in ``data/demo/``, the bundled demo news site
(``ingest demo serve``, ``make run DEMO=1``).
"""
