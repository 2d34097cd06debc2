"""Run the hand-written mutants of mutants/mutants.toml against their tests; print the score.

    ./run-mutants                      every mutant (see its timing in the last lines)
    ./run-mutants --only ID [ID ...]   some of them
    ./run-mutants --full --only ID     run the default test command (all of tests/) instead of the
                                       mutant's selection: shows the default command catches it
    ./run-mutants --list               check the file and list the mutants, run nothing

What it does:

1. Loads the mutants and checks every one before running anything: unique id, the file exists,
   ``original`` occurs exactly once in it, ``replacement`` differs. Any problem → exit 2 with the
   list (so a refactor that moves the code is caught here, not silently skipped).
2. Copies the working tree (tracked and untracked, not ignored files: uncommitted changes
   included) into a scratch folder, links node_modules, and runs everything there with the same
   .venv and ``PYTHONPATH=<scratch>:<scratch>/testing``, so the copies shadow the editable
   installs in this process and in every child (Hub, single-user servers, kernels). It checks
   that ``jupyter_ai_access`` and ``jupyter_ai_access_testing`` are imported from the scratch copy,
   from the scratch folder and from another working directory, before the first mutant.
3. Runs each distinct selection once unmutated (it must pass: a failing baseline would make
   every mutant look killed), unless ``--no-baseline``.
4. For each mutant: writes the mutated file, runs ``python -m pytest -x -q -p no:cacheprovider
   <tests>``, restores the file. Exit status 1, 2 or 3 (tests failed, collection error, internal
   error) = killed; 0 = survived; 4/5 (usage error, nothing collected) = a bad selection → exit 2.

Prints one line per mutant and, last, exactly ``N/M mutants killed``. Exit status 0 when every
survivor is marked ``equivalent`` (with its reason) and no mutant marked equivalent was killed;
1 otherwise; 2 for a broken mutants file or environment.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants" / "mutants.toml"
PER_MUTANT_TIMEOUT = 1200  # s: a safety net; pytest-timeout (300 s a test) normally ends hangs


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    tests: str
    what: str
    equivalent: str | None


def load(path: Path = MUTANTS) -> list[Mutant]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    mutants = []
    for i, raw in enumerate(data.get("mutant", [])):
        missing = [
            k for k in ("id", "file", "original", "replacement", "tests", "what") if k not in raw
        ]
        if missing:
            raise SystemExit(f"mutants.toml: mutant #{i + 1} lacks {missing}")
        mutants.append(
            Mutant(
                id=raw["id"],
                file=raw["file"],
                original=raw["original"],
                replacement=raw["replacement"],
                tests=raw["tests"],
                what=raw["what"],
                equivalent=raw.get("equivalent"),
            )
        )
    return mutants


def problems(mutants: list[Mutant], root: Path) -> list[str]:
    found = []
    seen: set[str] = set()
    for m in mutants:
        if m.id in seen:
            found.append(f"{m.id}: duplicate id")
        seen.add(m.id)
        path = root / m.file
        if not path.is_file():
            found.append(f"{m.id}: {m.file} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(m.original)
        if count != 1:
            found.append(f"{m.id}: the original snippet occurs {count} times in {m.file} (need 1)")
        if m.original == m.replacement:
            found.append(f"{m.id}: replacement equals original")
        if not shlex.split(m.tests):
            found.append(f"{m.id}: no tests selected")
    return found


def scratch_copy(root: Path) -> Path:
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    scratch = Path(tempfile.mkdtemp(prefix="jaia-mutants-"))
    for name in filter(None, files):
        source = root / name
        if source.is_file():
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if (root / "node_modules").is_dir():
        (scratch / "node_modules").symlink_to(root / "node_modules", target_is_directory=True)
    return scratch


def environment(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(scratch), str(scratch / "testing")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    node_file = ROOT / ".venv" / "etc" / "jaia-node"
    if node_file.exists() and not env.get("JUPYTER_AI_ACCESS_NODE"):
        env["JUPYTER_AI_ACCESS_NODE"] = node_file.read_text().strip()
    env.pop("JUPYTER_AI_ACCESS_NODE_MODULES", None)
    return env


def check_imports(scratch: Path, env: dict[str, str]) -> None:
    code = (
        "import jupyter_ai_access, jupyter_ai_access_testing, jupyter_ai_access.cognito.verify;"
        "print(jupyter_ai_access.__file__); print(jupyter_ai_access_testing.__file__);"
        "print(jupyter_ai_access.cognito.verify.__file__)"
    )
    for cwd in (scratch, Path(tempfile.gettempdir())):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
        )
        paths = out.stdout.split()
        if out.returncode != 0 or len(paths) != 3:
            raise SystemExit(f"run-mutants: imports fail in the scratch copy:\n{out.stderr}")
        outside = [p for p in paths if not Path(p).resolve().is_relative_to(scratch.resolve())]
        if outside:
            raise SystemExit(f"run-mutants: not importing the scratch copy (from {cwd}): {outside}")


def pytest_run(scratch: Path, env: dict[str, str], args: list[str], log: Path) -> tuple[int, float]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(PER_MUTANT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = -1
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--full", action="store_true", help="run all of tests/ for each mutant")
    parser.add_argument("--list", action="store_true", help="check and list, run nothing")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated runs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and logs")
    args = parser.parse_args()

    mutants = load()
    bad = problems(mutants, ROOT)
    if bad:
        print(
            "run-mutants: mutants.toml does not match the code:", *bad, sep="\n  ", file=sys.stderr
        )
        return 2
    if args.only:
        unknown = set(args.only) - {m.id for m in mutants}
        if unknown:
            print(f"run-mutants: unknown ids {sorted(unknown)}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in args.only]
    if args.list:
        for m in mutants:
            mark = " (equivalent)" if m.equivalent else ""
            print(f"{m.id:42} {m.file:40} {m.tests}{mark}")
        print(f"{len(mutants)} mutants")
        return 0

    started = time.monotonic()
    scratch = scratch_copy(ROOT)
    logs = scratch / "mutant-logs"
    logs.mkdir()
    env = environment(scratch)
    check_imports(scratch, env)
    print(f"scratch copy: {scratch}", flush=True)

    def selection(m: Mutant) -> list[str]:
        return [] if args.full else shlex.split(m.tests)

    status = 0
    if not args.no_baseline:
        for sel in dict.fromkeys(tuple(selection(m)) for m in mutants):
            shown = shlex.join(sel) or "tests/"
            code, took = pytest_run(scratch, env, list(sel), logs / "baseline.log")
            if code != 0:
                print(f"BASELINE FAILS ({code}) without any mutant: {shown}; see {logs}")
                return 2
            print(f"baseline ok   {took:6.1f}s  {shown}", flush=True)

    killed = 0
    for m in mutants:
        path = scratch / m.file
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(m.original, m.replacement, 1), encoding="utf-8")
        try:
            code, took = pytest_run(scratch, env, selection(m), logs / f"{m.id}.log")
        finally:
            path.write_text(text, encoding="utf-8")
        if code in (4, 5):
            print(f"BAD SELECTION {m.id}: pytest exit {code} for {m.tests!r}")
            status = 2
            continue
        if code != 0:
            killed += 1
            verdict = "KILLED"
            if m.equivalent:
                verdict = "KILLED (marked equivalent: fix mutants.toml)"
                status = max(status, 1)
        else:
            verdict = "SURVIVED (equivalent)" if m.equivalent else "SURVIVED"
            if not m.equivalent:
                status = max(status, 1)
        note = " timeout" if code == -1 else ""
        print(f"{verdict:22} {m.id:42} {took:6.1f}s{note}  {m.file}", flush=True)

    if args.keep:
        print(f"logs and scratch copy kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"took {time.monotonic() - started:.0f} s")
    print(f"{killed}/{len(mutants)} mutants killed")
    return status


if __name__ == "__main__":
    sys.exit(main())
