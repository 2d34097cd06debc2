# The hub image: the Zero to JupyterHub chart's own hub image plus jupyter_ai_access[hub].
#
# Build from the repository root (the build context; .dockerignore lets only the package in),
# after scripts/bootstrap: it builds build/labextension/ (the JupyterLab extension, with Node),
# which this image copies and a fresh clone lacks (COPY then fails: "build/labextension: not found").
#   docker build -f deploy/kubernetes/hub.Dockerfile --build-arg CHART_VERSION=<chart version> \
#     -t registry.example.org/ml-platform/jupyter-ai-access-hub:0.1.0 .
#
# CHART_VERSION (required) must be the version of the jupyterhub Helm chart you install, a release
# of app version 5.5.x (deploy/kubernetes/README.md finds it): the chart's jupyterhub_config.py
# and its hub image (KubeSpawner, pycurl, the Postgres driver) go together. The [hub] extra accepts
# JupyterHub 5.0 to 6.1 and oauthenticator 16.3 to 17.4 (docs/reference/compatibility.md): pip
# keeps the image's JupyterHub 5.5 and installs only what is missing.
ARG CHART_VERSION
FROM quay.io/jupyterhub/k8s-hub:${CHART_VERSION}

USER 0
COPY pyproject.toml README.md LICENSE /tmp/jupyter-ai-access/
COPY jupyter_ai_access /tmp/jupyter-ai-access/jupyter_ai_access
COPY jupyter-config /tmp/jupyter-ai-access/jupyter-config
# the JupyterLab extension, built by scripts/bootstrap beforehand (no Node in the image)
COPY build/labextension /tmp/jupyter-ai-access/build/labextension
# labextension/package.json: the package's one version source (pyproject.toml, hatchling reads it)
COPY labextension/package.json labextension/install.json /tmp/jupyter-ai-access/labextension/
RUN python3 -m pip install --no-cache-dir "/tmp/jupyter-ai-access[hub]" \
    && rm -rf /tmp/jupyter-ai-access \
    && python3 -c "from importlib.metadata import entry_points as e; e(group='jupyterhub.authenticators')['cognito'].load()"

# The chart runs the hub as 1000:1000 (hub.containerSecurityContext); so does the base image.
USER 1000:1000
