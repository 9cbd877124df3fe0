# syntax=docker/dockerfile:1
#
# pantau agent image.
#   docker build -t pantau:0.1.0 .
#   docker run -d --init --name pantau -p 127.0.0.1:9717:9717 \
#     -v "$PWD/pantau.yaml:/etc/pantau/pantau.yaml:ro" -v pantau-data:/var/lib/pantau pantau:0.1.0
# See docs/deploy.md (Docker / compose) for the demo stack with Prometheus and Grafana.
#
# Both stages use the same base so the venv's interpreter symlink stays valid. For bit-for-bit
# rebuilds pin a digest: --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest of the checkout out).
COPY pyproject.toml README.md ./
COPY agent/ agent/
COPY probes/ probes/
COPY exporters/ exporters/
COPY drp/ drp/

# Build the same wheel `pip wheel . --no-deps` builds outside Docker (tests/deploy checks that
# wheel installs and runs), then install it with its dependencies into a self-contained venv.
# Every dependency ships manylinux wheels, so no compiler is needed. Only `python3` and the
# venv's own pip are used: a Debian base (python3 + python3-venv) has no `python` or `pip`.
RUN python3 -m venv /opt/pantau/venv \
    && /opt/pantau/venv/bin/pip wheel . --no-deps --wheel-dir /wheels \
    && /opt/pantau/venv/bin/pip install --no-cache-dir /wheels/pantau-*.whl \
    && /opt/pantau/venv/bin/pantau --help >/dev/null

# Fail the build, not the first probe, when a dependency is missing from pyproject.toml:
# import every module of the installed packages (the CLI imports most of them lazily).
RUN /opt/pantau/venv/bin/python -c "import importlib, pkgutil; \
[importlib.import_module(m.name) for p in ('agent', 'probes', 'exporters', 'drp') \
 for m in pkgutil.walk_packages(importlib.import_module(p).__path__, p + '.') \
 if not m.name.endswith('__main__')]"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}

# Re-declared: an ARG before the first FROM is not visible inside a stage otherwise.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# Fixed ids, so a bind-mounted /var/lib/pantau can be prepared on the host:
#   install -d -o 10001 -g 10001 -m 0750 ./data
ARG PANTAU_UID=10001
ARG PANTAU_GID=10001

LABEL org.opencontainers.image.title="pantau" \
      org.opencontainers.image.description="Uptime and disaster-recovery monitoring agent for Indonesian local-government e-services (Pedoman Manajemen Layanan SPBE)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/deploy.md" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

RUN groupadd --system --gid "${PANTAU_GID}" pantau \
    && useradd --system --uid "${PANTAU_UID}" --gid pantau --no-create-home \
       --home-dir /var/lib/pantau --shell /usr/sbin/nologin --comment "pantau agent" pantau \
    && install -d -o pantau -g pantau -m 0750 /var/lib/pantau \
    && install -d -o root -g pantau -m 0750 /etc/pantau

COPY --from=builder /opt/pantau/venv /opt/pantau/venv
COPY --chmod=0755 deploy/healthcheck.py /usr/local/bin/pantau-healthcheck
# The example katalog checks the agent's own endpoint, so the image runs out of the box;
# mount your pantau.yaml (or the whole /etc/pantau) over it.
COPY --chown=root:pantau --chmod=0640 config/pantau.example.yaml /etc/pantau/pantau.yaml

# PANTAU_LISTEN/PANTAU_DATA_DIR are read by the example config (${PANTAU_LISTEN:-...}): inside a
# container the agent must bind all interfaces to be reachable through a published port.
# TZ=UTC: log timestamps in UTC; report periods use agent.timezone from the config, and the
# zone database comes from the Python tzdata package, so neither depends on the host.
ENV PATH="/opt/pantau/venv/bin:${PATH}" \
    PANTAU_LISTEN=0.0.0.0:9717 \
    PANTAU_DATA_DIR=/var/lib/pantau \
    TZ=UTC \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

USER ${PANTAU_UID}:${PANTAU_GID}
WORKDIR /var/lib/pantau
VOLUME ["/etc/pantau", "/var/lib/pantau"]
EXPOSE 9717

# The agent stops cleanly on SIGTERM (docker stop); run with --init (compose: init: true) so
# children it spawns (restic, borg, drill verify commands) are reaped.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "/usr/local/bin/pantau-healthcheck"]

ENTRYPOINT ["pantau"]
CMD ["run", "-c", "/etc/pantau/pantau.yaml"]
