# syntax=docker/dockerfile:1
# Two stages: build a wheel with its locked dependencies, then a slim non-root runtime.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock pyproject.toml README.md alembic.ini ./
RUN pip install --no-cache-dir -r requirements.lock
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir --no-deps .

FROM python:3.11-slim AS runtime
# The certificate is set in Noto Sans CJK (Chinese and English in one embedded font);
# pg_dump (postgresql-client) is what `goldtrail backup` runs against PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /srv/goldtrail --create-home goldtrail
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GOLDTRAIL_ENVIRONMENT=production \
    GOLDTRAIL_DATA_DIR=/srv/goldtrail/var \
    GOLDTRAIL_SERVICE_KEY_FILE=/run/secrets/goldtrail_service_key
WORKDIR /srv/goldtrail
USER goldtrail
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
# The signing key is mounted at run time (a secret), never baked into the image.
CMD ["goldtrail", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
