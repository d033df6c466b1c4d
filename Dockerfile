# The citysense service image: one image, one subcommand per container (docker-compose.yml).
#
#   docker build -t citysense .
#   docker run --rm citysense --help
#   docker run --rm -e CITYSENSE_DATABASE_URL=… citysense migrate
#
# Configuration comes from CITYSENSE_* environment variables only: .env files are kept
# out of the build context (.dockerignore), so no secret is baked into a layer.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user with a fixed uid (file ownership stays stable across rebuilds).
RUN groupadd --system --gid 10001 citysense \
 && useradd --system --uid 10001 --gid citysense --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin citysense

WORKDIR /src

# Dependencies first, from the lock file alone (the exact versions `make test` ran with): this
# layer is rebuilt only when the lock changes, not at every code edit. All have manylinux
# wheels, so the slim image needs no compiler.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# The application, installed as a regular (non-editable) package; the sources are removed
# afterwards so only site-packages is imported. Only the product and its ground are copied:
# the bench (bench/) and the development environment (devenv/: `citysense services`, the
# Mosquitto launcher of the tests) stay out of the image, and .dockerignore keeps them out of
# the build context as well.
COPY pyproject.toml README.md ./
COPY citysense ./citysense
COPY ingest ./ingest
COPY api ./api
COPY models ./models
COPY simulators ./simulators
RUN pip install --no-deps . \
 && cd / && rm -rf /src

# Health checks without curl: `citysense-healthcheck api|ingest|mqtt` (see the script).
COPY deploy/docker/healthcheck.py /usr/local/bin/citysense-healthcheck
RUN chmod 0755 /usr/local/bin/citysense-healthcheck \
 && mkdir -p /app && chown citysense:citysense /app

WORKDIR /app
USER citysense:citysense

# API (`citysense api --host 0.0.0.0 --port 8000`) and ingest's Prometheus metrics.
EXPOSE 8000 9108

# Docker's SIGTERM reaches citysense directly (exec form, PID 1): ingest commits and
# acknowledges what it holds before it exits; give it time (compose stop_grace_period).
ENTRYPOINT ["citysense"]
CMD ["--help"]
