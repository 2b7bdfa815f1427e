# openkoi serve in a container: every configured chat platform, the worker pool, the scheduled jobs, /healthz,
# /readyz and /metrics on one port. The data directory ($OPENKOI_HOME: the database, learned skills) is a
# volume; config.toml is mounted read-only at $OPENKOI_CONFIG (see compose.yaml and the README).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENKOI_HOME=/var/lib/openkoi \
    OPENKOI_CONFIG=/etc/openkoi/config.toml \
    OPENKOI_SERVE__HOST=0.0.0.0

# A user of its own, never root: the database and everything the agent learns belong to it.
RUN groupadd --system --gid 10001 openkoi \
 && useradd --system --uid 10001 --gid openkoi --home-dir /var/lib/openkoi --shell /usr/sbin/nologin openkoi \
 && mkdir -p /var/lib/openkoi /etc/openkoi \
 && chown openkoi:openkoi /var/lib/openkoi

WORKDIR /opt/openkoi
COPY pyproject.toml README.md ./
COPY core ./core
COPY bots ./bots
COPY integrations ./integrations
COPY scheduler ./scheduler
COPY skills ./skills
RUN pip install . && rm -rf /opt/openkoi/build

USER openkoi:openkoi
VOLUME ["/var/lib/openkoi"]
EXPOSE 9742

# Ready means: the database answers, a model is configured, every configured platform is connected and the
# service is not draining (GET /readyz answers 200; 503 otherwise, which urlopen raises on).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9742/readyz', timeout=4)"]

# SIGTERM drains: running tasks get [serve] drain_seconds, then their last messages go out (compose.yaml gives
# the container time for both with stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["openkoi"]
CMD ["serve"]
