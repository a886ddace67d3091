# The territoire image: Airflow 3 + dbt + Great Expectations + the platform package, from uv.lock.
# One image for every Airflow service of docker-compose.yml (api-server, scheduler, dag-processor,
# triggerer, celery workers, flower); the compose `command:` picks the airflow subcommand.
FROM python:3.11-slim

# The uid the services run as (group 0, like the official Airflow image, so any uid can write where
# group 0 can). Set AIRFLOW_UID to your host uid in .env so bind-mounted folders stay writable.
ARG AIRFLOW_UID=50000
ARG UV_VERSION=0.13.9

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/territoire/.venv \
    AIRFLOW_HOME=/opt/airflow \
    PATH=/opt/territoire/.venv/bin:$PATH

# uv from PyPI (pinned) so the image resolves exactly what uv.lock says.
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /opt/territoire

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the platform package (installed editable, so a bind-mounted plugins/ is what runs).
COPY plugins/ plugins/
RUN uv sync --frozen --no-dev

COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY expectations/ expectations/
COPY catalog/ catalog/
COPY data/ data/
COPY deploy/ deploy/

# Folders the services write to. Named volumes mounted here start with this ownership, so the
# landing zone, publication folder, logs and auth file are writable without running as root.
RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --no-create-home airflow \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth \
                /srv/territoire/landing /srv/territoire/publication \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow /srv/territoire \
                /opt/territoire/dbt_project /opt/territoire/expectations \
    && chmod -R g+rwX /opt/airflow /srv/territoire /opt/territoire/dbt_project /opt/territoire/expectations \
    && chmod 0770 /opt/airflow/auth

USER ${AIRFLOW_UID}:0

# 8080 api-server, 8793 worker log server, 5555 flower, 8974 scheduler health check.
EXPOSE 8080 8793 5555 8974

ENTRYPOINT ["airflow"]
CMD ["version"]
