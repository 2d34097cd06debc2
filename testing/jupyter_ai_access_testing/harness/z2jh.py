"""The Zero to JupyterHub chart's hub pod, laid out in a folder: no cluster, the chart's own code.

The chart (z2jh) renders ``values.yaml`` into a Secret mounted in the hub pod at
``/usr/local/etc/jupyterhub/secret/``, mounts a ConfigMap with resource names at ``config/`` and
``hub.existingSecret`` at ``existing-secret/``, and runs its ``jupyterhub_config.py`` (with its
helper ``z2jh.py``), which turns ``hub.config``, ``hub.extraConfig`` and ``singleuser.*`` into
JupyterHub and KubeSpawner settings. :func:`lay_out_hub_pod` writes those mounts into a folder
and copies the two Python files with the mount root replaced by that folder: nothing of the
chart's logic is changed, only where it reads its files. The environment the hub Deployment
gives the container (``hub.extraEnv`` with ``secretKeyRef``, ``CONFIGPROXY_AUTH_TOKEN``, the
Services' ``*_SERVICE_PORT``) is rebuilt by :func:`hub_env`.

The chart's files are read from ``deploy/kubernetes/z2jh-reference/`` in the repository (unmodified
copies, their source, version and license noted there; ``$JAIA_Z2JH_DIR`` points elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MOUNT_ROOT",
    "HubPod",
    "chart_dir",
    "chart_values",
    "helm_merge",
    "hub_env",
    "lay_out_hub_pod",
    "load_hub_config",
    "schema_errors",
]

#: Where the chart mounts the hub's configuration, values and secrets in the hub pod.
MOUNT_ROOT = "/usr/local/etc/jupyterhub"
#: Resource names the chart's ConfigMap exposes (fullnameOverride "" as in the chart's defaults).
DEFAULT_NAMES = {
    "hub": "hub",
    "proxy-api": "proxy-api",
    "proxy-public": "proxy-public",
    "singleuser": "singleuser",
    "user-scheduler": "user-scheduler",
    "image-pull-secret": "image-pull-secret",
    "priority": "jhub-default-priority",
}


def chart_dir(repo_root: Path) -> Path:
    """The folder with the chart's reference files (in the repository unless overridden)."""
    default = repo_root / "deploy" / "kubernetes" / "z2jh-reference"
    return Path(os.environ.get("JAIA_Z2JH_DIR") or default)


def helm_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the defaults: maps deep, a null deletes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def chart_values(chart: Path, *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's defaults with ``overrides`` merged in order, as ``helm --values`` does."""
    values: dict[str, Any] = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    for override in overrides:
        values = helm_merge(values, override)
    values.setdefault("global", {})  # Helm always passes .Values.global
    return values


def schema_errors(chart: Path, values: Mapping[str, Any]) -> list[str]:
    """Where ``values`` break the chart's values.schema.yaml (what ``helm install`` checks)."""
    import jsonschema

    schema = yaml.safe_load((chart / "values.schema.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(dict(values))
    ]


def _redirect(value: Any, root: str) -> Any:
    """Every string that names a path under the mount root, moved under ``root``."""
    if isinstance(value, str):
        return value.replace(MOUNT_ROOT, root)
    if isinstance(value, list):
        return [_redirect(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _redirect(v, root) for k, v in value.items()}
    return value


def hub_env(
    values: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    *,
    chart_secret: Mapping[str, str],
    release: str,
    namespace: str,
    service_ports: Mapping[str, int],
) -> dict[str, str]:
    """The hub container's environment as the chart's Deployment template sets it.

    ``hub.extraEnv`` in its dict or list form; ``valueFrom.secretKeyRef`` is looked up in
    ``secrets`` (Secret name → data); Services' ``<NAME>_SERVICE_PORT`` as Kubernetes sets them.
    """
    env = {
        "PYTHONUNBUFFERED": "1",
        "HELM_RELEASE_NAME": release,
        "POD_NAMESPACE": namespace,
        "CONFIGPROXY_AUTH_TOKEN": chart_secret["hub.config.ConfigurableHTTPProxy.auth_token"],
    }
    for service, port in service_ports.items():
        env[f"{service.upper().replace('-', '_')}_SERVICE_PORT"] = str(port)
    extra = values.get("hub", {}).get("extraEnv") or {}
    items = (
        [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in extra.items()]
        if isinstance(extra, dict)
        else list(extra)
    )
    for item in items:
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            raise ValueError(f"hub.extraEnv.{item['name']}: only value and secretKeyRef here")
        env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


@dataclass
class HubPod:
    """The hub pod's mounts in ``folder`` and its container's environment."""

    folder: Path
    config_file: Path
    env: dict[str, str]
    values: dict[str, Any]


def lay_out_hub_pod(
    chart: Path,
    folder: Path,
    values: Mapping[str, Any],
    *,
    secrets: Mapping[str, Mapping[str, str]],
    chart_secret: Mapping[str, str],
    release: str = "jhub",
    namespace: str = "jhub",
    names: Mapping[str, str] | None = None,
    service_ports: Mapping[str, int] | None = None,
) -> HubPod:
    """Write the hub pod's mounts into ``folder``; the chart's Python files read them there.

    ``values`` are the merged values (:func:`chart_values`); ``chart_secret`` holds the keys the
    chart generates into its own Secret (proxy token, cookie secret, crypt key, service tokens);
    ``secrets`` are the Secrets that exist in the namespace (``hub.existingSecret`` among them).
    """
    root = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("jupyterhub_config.py", "z2jh.py"):
        text = (chart / name).read_text(encoding="utf-8")
        (folder / name).write_text(text.replace(MOUNT_ROOT, root), encoding="utf-8")
    mounted = _redirect(dict(values), root)
    # The chart's Secret: the values (plus Chart and Release) and the generated keys.
    secret_dir = folder / "secret"
    secret_dir.mkdir(mode=0o700, exist_ok=True)
    rendered = {
        **mounted,
        "Chart": {"Name": "jupyterhub", "Version": "0.0.0-test"},
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
    }
    (secret_dir / "values.yaml").write_text(yaml.safe_dump(rendered), encoding="utf-8")
    for key, value in chart_secret.items():
        (secret_dir / key).write_text(value, encoding="utf-8")
    existing = values.get("hub", {}).get("existingSecret")
    if existing:
        existing_dir = folder / "existing-secret"
        existing_dir.mkdir(mode=0o700, exist_ok=True)
        for key, value in secrets[existing].items():
            (existing_dir / key).write_text(value, encoding="utf-8")
    config_dir = folder / "config"
    config_dir.mkdir(exist_ok=True)
    for key, value in {**DEFAULT_NAMES, **(names or {})}.items():
        (config_dir / key).write_text(value, encoding="utf-8")
    ports = dict(service_ports or {"hub": 8081, "proxy-api": 8001, "proxy-public": 80})
    named_ports = {(names or {}).get(k, DEFAULT_NAMES.get(k, k)): p for k, p in ports.items()}
    env = hub_env(
        mounted,
        secrets,
        chart_secret=chart_secret,
        release=release,
        namespace=namespace,
        service_ports=named_ports,
    )
    return HubPod(folder, folder / "jupyterhub_config.py", env, mounted)


_LOADER = r"""
import hashlib, json, os, sys
from traitlets.config.loader import PyFileConfigLoader

config_file, out = sys.argv[1], sys.argv[2]
folder, name = os.path.dirname(config_file), os.path.basename(config_file)
config = PyFileConfigLoader(name, folder).load_config()

def plain(o):
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return repr(o)

environment = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}
with open(out, "w") as f:
    json.dump({"config": config, "env_sha256": environment}, f, default=plain)
"""


def load_hub_config(pod: HubPod, extra_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the chart's jupyterhub_config.py as JupyterHub loads it, in a child Python.

    Returns ``{"config": {section: {trait: value}}, "env_sha256": {name: sha256(value)}}``: the
    configuration it builds and the environment it leaves (as digests: ``PGPASSWORD`` is set
    there by the chart's code). A child process, because the chart's file changes process-wide
    state (tornado's HTTP client class, ``sys.path``, the environment).
    """
    out = pod.folder / "loaded-config.json"
    env = {**os.environ, **pod.env, **(extra_env or {})}
    result = subprocess.run(
        [sys.executable, "-c", _LOADER, str(pod.config_file), str(out)],
        cwd=pod.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the chart's jupyterhub_config.py failed:\n{result.stderr[-3000:]}")
    loaded: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return loaded
