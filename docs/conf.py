"""Sphinx configuration of the jupyter_ai_access documentation (MyST Markdown, pydata theme).

Build: ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html`` (what
tests/test_docs.py runs; warnings are errors, internal references checked, nothing fetched).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from jupyter_ai_access import __version__  # noqa: E402

project = "jupyter_ai_access"
author = "jupyter_ai_access developers"
copyright = "jupyter_ai_access developers"
release = __version__
version = __version__

extensions = ["myst_parser", "jaia_reference"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "screenshots/README*"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Internal references are checked (nitpicky); names of other projects' classes are not resolved
# (no intersphinx: the build fetches nothing), so only ours must resolve.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!jupyter_ai_access\b).*")]

autodoc_member_order = "bysource"
toc_object_entries = False  # the page TOC lists the classes once, by their headings
autodoc_typehints = "none"

html_theme = "pydata_sphinx_theme"
html_title = "jupyter_ai_access"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
html_copy_source = False

# autodoc-traits warns (FutureWarning) about inherited settings without help before the
# directive's :exclude-members: drops them: those are other projects' settings, not listed here.
warnings.filterwarnings("ignore", category=FutureWarning, module="autodoc_traits")
