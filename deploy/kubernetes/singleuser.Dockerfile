# The single-user image: a Jupyter docker-stacks image plus jupyter_ai_access[server], its server
# extension enabled (the package ships etc/jupyter/jupyter_server_config.d/jupyter_ai_access.json).
#
# Build from the repository root (the build context; .dockerignore lets only the package in),
# after scripts/bootstrap: it builds build/labextension/ (the JupyterLab extension, with Node),
# which this image copies and a fresh clone lacks (COPY then fails: "build/labextension: not found").
#   docker build -f deploy/kubernetes/singleuser.Dockerfile \
#     -t registry.example.org/ml-platform/jupyter-ai-access-singleuser:0.1.0 .
#
# Any docker-stacks image works (scipy-notebook, pytorch-notebook, ...): set BASE_IMAGE, and pin
# a dated tag (e.g. quay.io/jupyter/minimal-notebook:2025-06-02) for reproducible builds.
ARG BASE_IMAGE=quay.io/jupyter/minimal-notebook:python-3.12
FROM ${BASE_IMAGE}

COPY --chown=${NB_UID}:${NB_GID} pyproject.toml README.md LICENSE /tmp/jupyter-ai-access/
COPY --chown=${NB_UID}:${NB_GID} jupyter_ai_access /tmp/jupyter-ai-access/jupyter_ai_access
COPY --chown=${NB_UID}:${NB_GID} jupyter-config /tmp/jupyter-ai-access/jupyter-config
# the JupyterLab extension, built by scripts/bootstrap beforehand (no Node in the image)
COPY --chown=${NB_UID}:${NB_GID} build/labextension /tmp/jupyter-ai-access/build/labextension
# labextension/package.json: the package's one version source (pyproject.toml, hatchling reads it)
COPY --chown=${NB_UID}:${NB_GID} labextension/package.json labextension/install.json /tmp/jupyter-ai-access/labextension/
RUN pip install --no-cache-dir "/tmp/jupyter-ai-access[server]" \
    && rm -rf /tmp/jupyter-ai-access \
    && python -c "from jupyter_core.paths import jupyter_config_path as p; from jupyter_server.extension.config import ExtensionConfigManager as M; assert M(read_config_path=p()).enabled('jupyter_ai_access')" \
    && fix-permissions "${CONDA_DIR}" \
    && fix-permissions "/home/${NB_USER}"

# Still the base image's user (jovyan, ${NB_UID}): nothing above switched to root. The kernels'
# token folders go to $XDG_RUNTIME_DIR, an in-memory volume the chart's values mount at
# /run/jupyter-ai-access (deploy/kubernetes/values.yaml); the image does not create it.
