# syntax=docker/dockerfile:1
#
# muxi serve in a container, with the time, fetch and filesystem MCP servers
# preinstalled (docs/container.md).
#
#   docker build -t muxi .
#   docker run -d -p 127.0.0.1:8765:8765 -v muxi-data:/data \
#       -e ANTHROPIC_API_KEY muxi
#   docker logs <container>          # the first start prints the admin and user keys once
#
# Build arguments:
#   MUXI_EXTRAS  the muxi-cli extras installed (default: all; "server,memory"
#                gives a smaller image without media: no OCR, documents or audio)
#   MUXI_UID, MUXI_GID  the ids of the user muxi runs as (default 10001)

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# -- muxi: build the wheel from this checkout, install it into a venv ----------
FROM ${PYTHON_IMAGE} AS muxi-build
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
ARG MUXI_EXTRAS=all
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY muxi_cli ./muxi_cli
COPY templates ./templates
# The wheel, not the checkout, is installed: the image holds what `pip install
# muxi-cli[...]` gives a user. opencv-python (for OCR) links the X11 and OpenGL
# libraries a server has no use for; the headless build of the same version
# replaces it, so the final stage needs no libGL.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/muxi \
    && set -- /wheels/muxi_cli-*.whl \
    && /opt/muxi/bin/pip install "$1[${MUXI_EXTRAS}]" \
    && cv=$(/opt/muxi/bin/python -c 'import importlib.metadata as m; print(m.version("opencv-python"))' 2>/dev/null || true) \
    && if [ -n "$cv" ]; then \
         /opt/muxi/bin/pip uninstall --yes opencv-python \
         && /opt/muxi/bin/pip install "opencv-python-headless==$cv"; \
       fi \
    && /opt/muxi/bin/muxi --version

# -- MCP servers from PyPI, in a venv of their own ----------------------------
# Their dependencies never constrain muxi's, and adding one more server
# (docker/Dockerfile.extend-example) cannot break muxi.
FROM ${PYTHON_IMAGE} AS mcp-python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/mcp \
    && /opt/mcp/bin/pip install "mcp-server-time==2026.10.19" "mcp-server-fetch==2026.10.24"

# -- MCP servers from npm: installed from the committed lock file -------------
FROM ${PYTHON_IMAGE} AS mcp-node
# DL3008 (apt versions unpinned): Debian replaces a package version when it
# ships a security fix, so an exact pin stops resolving; the suite is pinned by
# the base image's tag, and the npm packages by docker/mcp/package-lock.json.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/mcp-node
COPY docker/mcp/package.json docker/mcp/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# -- the image ----------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG MUXI_UID=10001
ARG MUXI_GID=10001
LABEL org.opencontainers.image.title="muxi" \
      org.opencontainers.image.description="muxi serve with the time, fetch and filesystem MCP servers" \
      org.opencontainers.image.licenses="Apache-2.0"

# nodejs runs the filesystem MCP server (npm stays in its build stage); tini is
# PID 1: it passes SIGTERM on to muxi serve and reaps the MCP servers' orphans.
# DL3008: as in the mcp-node stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends nodejs tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${MUXI_GID}" muxi \
    && useradd --system --uid "${MUXI_UID}" --gid muxi --home-dir /home/muxi \
       --create-home --shell /usr/sbin/nologin muxi \
    && mkdir -p /data /workspace /formation \
    && chown muxi:muxi /data /workspace \
    && chmod 0700 /data

COPY --from=muxi-build /opt/muxi /opt/muxi
COPY --from=mcp-python /opt/mcp /opt/mcp
COPY --from=mcp-node /opt/mcp-node /opt/mcp-node
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/muxi-entrypoint
COPY --chmod=0755 docker/healthcheck.py /usr/local/bin/muxi-healthcheck
COPY --chmod=0644 docker/muxi.yaml /formation/muxi.yaml

# muxi's own venv comes first on PATH (its python), then the MCP servers'
# commands, then the base image's PATH (with the sbin folders dpkg needs when an
# image built on this one installs packages). MUXI_HOME puts config, data and
# cache under /data; secrets go to a 0600 file there (a container has no OS
# keyring); MUXI_CONFIG is the formation.
# DL3064 reads "SECRETS" in MUXI_SECRETS_FILE as sensitive data: it is a switch
# (1: use the file), never a secret; no key is ever set with ENV here.
# hadolint ignore=DL3064
ENV PATH=/opt/muxi/bin:/opt/mcp/bin:/opt/mcp-node/node_modules/.bin:${PATH} \
    MUXI_HOME=/data \
    MUXI_CONFIG=/formation/muxi.yaml \
    MUXI_SECRETS_FILE=1 \
    MUXI_SERVE_HOST=0.0.0.0 \
    MUXI_SERVE_PORT=8765 \
    MUXI_WORKSPACE=/workspace \
    MUXI_USER_ID=muxi \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TZ=UTC \
    HOME=/home/muxi

VOLUME ["/data"]
WORKDIR /formation
USER ${MUXI_UID}:${MUXI_GID}
EXPOSE 8765
# The first start builds the memory store and starts the MCP servers: give it a minute.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["muxi-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "muxi-entrypoint"]
CMD ["serve"]
