"""The prebuilt JupyterLab extension loads in the installed JupyterLab, with the server extension.

Runs in the main suite (the newest JupyterLab, constraints.txt) and in ``scripts/compat`` (the
oldest supported, against the installed wheel): a real ``jupyter lab`` from this interpreter
lists the extension in its page config, serves its JavaScript, and loads the server extension.
"""

from __future__ import annotations

import json
import re
import sys

import jupyterlab
import pytest
from jupyter_ai_access_testing.harness.lab import LabProcess

import jupyter_ai_access

pytestmark = [pytest.mark.kernel]

NAME = "jupyter-ai-access"  # labextension/package.json


def test_jupyter_lab_lists_serves_and_loads_the_prebuilt_extension(tmp_path):
    lab = LabProcess(tmp_path, {}, python=sys.executable).start()
    try:
        page = lab.api("lab")
        assert page.status_code == 200, page.text[:300]
        found = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            page.text,
            re.S,
        )
        assert found, "no page config in /lab"
        config = json.loads(found.group(1))
        (ours,) = [e for e in config["federated_extensions"] if e["name"] == NAME]
        assert NAME not in config.get("disabledExtensions", [])
        script = lab.api(f"lab/extensions/{NAME}/{ours['load']}")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert NAME in script.text  # the module federation container of this extension
        assert config.get("appVersion", jupyterlab.__version__) == jupyterlab.__version__
        log = lab.log_file.read_text(errors="replace")
        assert re.search(r"jupyter_ai_access \| extension was successfully loaded", log), log[-2000:]
    finally:
        lab.stop()
    print(f"JupyterLab {jupyterlab.__version__} loaded {NAME} from {jupyter_ai_access.__file__}")
