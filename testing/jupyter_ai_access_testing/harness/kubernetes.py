"""KubeSpawner without a cluster: the real pod manifest, then the "pod" as a local process.

:class:`ManifestSpawner` is KubeSpawner with only the steps that need a Kubernetes API replaced:
``start()`` builds the pod manifest with KubeSpawner's own ``get_pod_manifest()`` (the Hub's
environment for the server, the chart's volumes, security context, labels), writes it to
``manifest_dir/<pod name>.json``, and runs the notebook container's command as a local process
with the container's environment (:class:`LocalPod`). ``poll``, ``stop`` and ``progress``
follow the local process instead of the pod reflector.

KubeSpawner reads a kubeconfig when it is created; :func:`write_kubeconfig` writes one that names
a loopback address nothing listens on (nothing here contacts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubespawner import KubeSpawner
from traitlets import Unicode

from ..ports import free_port

__all__ = ["LocalPod", "ManifestSpawner", "pod_env", "write_kubeconfig"]


def write_kubeconfig(path: Path) -> Path:
    """A kubeconfig for a cluster at 127.0.0.1:9 (discard; never contacted by these tests)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "not-a-cluster"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


class LocalPod:
    """The notebook container of a pod manifest as a local process's argv, env, home and user.

    Each ``emptyDir`` the container mounts becomes a folder under ``root`` made as the kubelet
    makes one (mode 0777; with ``fsGroup``, group-owned by it with the setgid bit), and
    environment values under its mount path are moved there. When this process is root, the
    container's ``runAsUser`` and the pod's ``fsGroup`` are honoured (as in the pod); otherwise
    the process runs as the current user.
    """

    def __init__(self, manifest: dict[str, Any], root: Path) -> None:
        spec = manifest["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "notebook")
        context = container.get("securityContext") or {}
        self.uid: int | None = context.get("runAsUser") if os.getuid() == 0 else None
        self.gid: int | None = None
        if self.uid is not None:
            self.gid = (spec.get("securityContext") or {}).get("fsGroup")
        (root / "volumes").mkdir(parents=True, exist_ok=True)
        for folder in (root.parent, root, root / "volumes"):
            folder.chmod(0o755)  # traversable by the pod's user
        empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        moved: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            if mount["name"] in empty_dirs:
                volume = root / "volumes" / mount["name"]
                volume.mkdir(exist_ok=True)
                if self.gid is not None:
                    os.chown(volume, 0, self.gid)
                    volume.chmod(0o2777)
                else:
                    volume.chmod(0o777)
                moved[mount["mountPath"]] = str(volume)
        self.env: dict[str, str] = {}
        for item in container.get("env", []):
            value = str(item.get("value", ""))
            for path, there in moved.items():
                if value == path or value.startswith(path + "/"):
                    value = there + value[len(path) :]
            self.env[item["name"]] = value
        self.home = root / "home"
        self.home.mkdir(mode=0o700, exist_ok=True)
        if self.uid is not None:
            os.chown(self.home, self.uid, self.gid if self.gid is not None else -1)
        bin_dir = str(Path(sys.executable).parent)
        self.env.update(HOME=str(self.home), PATH=f"{bin_dir}:/usr/bin:/bin", LANG="C.UTF-8")
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        argv[0] = shutil.which(argv[0], path=self.env["PATH"]) or argv[0]
        self.argv = argv

    def switch_user(self) -> None:
        """In the child before exec: become the pod's user (when this process is root)."""
        if self.uid is None:
            return
        if self.gid is not None:
            os.setgroups([self.gid])
            os.setgid(self.gid)
        os.setuid(self.uid)


class ManifestSpawner(KubeSpawner):  # type: ignore[misc]
    """KubeSpawner up to the pod manifest; the pod's notebook container runs locally."""

    manifest_dir = Unicode(
        config=True, help="Where pod manifests, local pod folders and their logs go."
    )

    _proc: asyncio.subprocess.Process | None = None

    async def start(self) -> tuple[str, int]:
        """Build the manifest (KubeSpawner's own code), save it, run the container locally."""
        self.port = free_port()
        pod = await self.get_pod_manifest()
        manifest: dict[str, Any] = self.api.api_client.sanitize_for_serialization(pod)
        folder = Path(self.manifest_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = manifest["metadata"]["name"]
        (folder / f"{name}.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        local = LocalPod(manifest, folder / name)
        log = (folder / f"{name}.log").open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            *local.argv,
            env=local.env,
            cwd=local.home,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=local.switch_user,
        )
        log.close()
        return ("127.0.0.1", self.port)

    async def poll(self) -> int | None:
        """None while the local process runs, else its exit status (0 when never started)."""
        if self._proc is None:
            return 0
        return self._proc.returncode

    async def stop(self, now: bool = False) -> None:
        """Stop the local process (SIGTERM, then SIGKILL after 10 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """No Kubernetes events to report."""
        events: list[dict[str, Any]] = []
        for event in events:
            yield event


def pod_env(manifest: dict[str, Any]) -> dict[str, str]:
    """The notebook container's environment as name → value (valueFrom entries as their JSON)."""
    container = next(c for c in manifest["spec"]["containers"] if c["name"] == "notebook")
    return {
        e["name"]: str(e["value"]) if "value" in e else json.dumps(e.get("valueFrom"))
        for e in container.get("env", [])
    }
