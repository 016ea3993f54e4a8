"""The development stack: what developers, tests, benchmarks and evaluations need and production never runs.

Why a package of its own: the runtime (everything else under ``ingest/``, what the Airflow image
installs) must not carry or import the tools around it; ``tests/test_layout.py`` checks that no
runtime module loads ``ingest.dev``. Here today: ``node/``, the embedded Elasticsearch (build,
install, host preparation, start/stop/reuse). The loopback server, the demo site and the
evaluations belong here too (they move in after the parallel work on them has merged).
"""
