"""Reference pages generated from the code: every configurable trait, the CLI, environment
variables and benchmark figures. A small Sphinx extension (``docs/conf.py`` loads it).

- ``.. jaia-configurables::`` (reST pages): every ``traitlets`` class of the package that people
  configure (the leaves of the package's own class tree), each through autodoc-traits'
  ``autoconfigurable``, limited to the traits the package defines (a class's inherited
  JupyterHub/jupyter_server settings are named, with a pointer to their own docs);
- ``.. jaia-cli::``: the help of ``jupyter-ai-access`` and of each subcommand, as the command
  prints it;
- ``.. jaia-env::``: the environment names of ``jupyter_ai_access/protocol.py``;
- ``{jaia-figures} NAME`` (MyST pages): a benchmark's figures rendered from
  ``benchmarks/results/NAME.json`` by ``scripts/figures`` (``PAGE_BLOCKS[NAME]``; no page holds
  a hand copy);
- ``{jaia-figure}`NAME.KEY``` (a role, for a sentence or a table cell): one phrase of the same
  file (``INLINE[NAME][KEY]`` of ``scripts/figures``).
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pkgutil
import subprocess
import sys
from contextlib import redirect_stdout
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

from autodoc_traits import TraitDocumenter
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.ext.autodoc import AttributeDocumenter
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective, SphinxRole
from sphinx.util.nodes import nested_parse_with_titles
from traitlets import HasTraits, TraitType

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "jupyter_ai_access"


def package_modules() -> list[ModuleType]:
    """Every importable module of the package (``__main__`` modules excluded: they run)."""
    package = importlib.import_module(PACKAGE)
    modules = [package]
    for info in pkgutil.walk_packages(package.__path__, f"{PACKAGE}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def configurable_classes() -> list[type[HasTraits]]:
    """Every HasTraits class defined in the package, in module order."""
    found: dict[str, type[HasTraits]] = {}
    for module in package_modules():
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, HasTraits)
                and obj.__module__ == module.__name__
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def is_ours(cls: type) -> bool:
    return cls.__module__.split(".", 1)[0] == PACKAGE


def configured_classes() -> list[type[HasTraits]]:
    """The classes people configure: the package's classes no other class of it subclasses."""
    classes = configurable_classes()
    return [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]


def own_trait_names(cls: type[HasTraits]) -> list[str]:
    """The config traits of ``cls`` that a class of this package defines (inherited included)."""
    return sorted(
        name
        for name, trait in cls.class_traits(config=True).items()
        if is_ours(trait.this_class)
    )


def foreign_trait_owners(cls: type[HasTraits]) -> list[str]:
    """The non-package classes whose config traits ``cls`` inherits, by name."""
    owners = {
        f"{t.this_class.__module__}.{t.this_class.__qualname__}"
        for t in cls.class_traits(config=True).values()
        if not is_ours(t.this_class)
    }
    return sorted(owners)


class ConfigurablesDirective(SphinxDirective):
    """Every class people configure, with the traits the package defines."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for cls in configured_classes():
            ours = own_trait_names(cls)
            if not ours:
                continue
            full = f"{cls.__module__}.{cls.__qualname__}"
            others = sorted(set(cls.class_traits(config=True)) - set(ours))
            lines += [cls.__name__, "-" * len(cls.__name__), ""]
            lines.append(f".. autoconfigurable:: {full}")
            if others:
                lines.append(f"   :exclude-members: {', '.join(others)}")
            lines.append("")
            owners = foreign_trait_owners(cls)
            if owners:
                names = ", ".join(f"``{o}``" for o in owners)
                lines += [
                    f"``{cls.__name__}`` also takes the settings it inherits from {names}: "
                    "see those projects' documentation.",
                    "",
                ]
        return self.parse(lines)

    def parse(self, lines: list[str]) -> list[nodes.Node]:
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=self.name), node)
        return list(node.children)


class CliDirective(ConfigurablesDirective):
    """``jupyter-ai-access --help`` and each subcommand's ``--help``, as printed."""

    def run(self) -> list[nodes.Node]:
        from traitlets.utils.importstring import import_item

        from jupyter_ai_access.cli import JupyterAIAccessApp

        def subapp(spec: Any) -> Any:  # a class, or its import string (traitlets allows both)
            return (import_item(spec) if isinstance(spec, str) else spec)()

        lines: list[str] = []
        for title, app in [("jupyter-ai-access", JupyterAIAccessApp())] + [
            (f"jupyter-ai-access {name}", subapp(sub[0]))
            for name, sub in sorted(JupyterAIAccessApp.subcommands.items())
        ]:
            out = io.StringIO()
            with redirect_stdout(out):
                app.print_description()
                app.print_subcommands()
                app.print_options()
            text = out.getvalue().rstrip() or "(no options)"
            lines += [f"``{title}``", "-" * (len(title) + 4), "", "::", ""]
            lines += ["   " + line if line.strip() else "" for line in text.splitlines()]
            lines.append("")
        # the local AWS, which the demo's Hub starts as a service (argparse, in its main())
        title = "python -m jupyter_ai_access.local_aws"
        help_text = subprocess.run(
            [sys.executable, "-m", "jupyter_ai_access.local_aws", "--help"],
            capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
        ).stdout
        lines += [f"``{title}``", "-" * (len(title) + 4), "", "::", ""]
        lines += ["   " + line if line.strip() else "" for line in help_text.splitlines()]
        lines.append("")
        return self.parse(lines)


class EnvDirective(ConfigurablesDirective):
    """The environment names defined once in ``jupyter_ai_access/protocol.py``."""

    def run(self) -> list[nodes.Node]:
        from jupyter_ai_access import protocol

        docs = ModuleAnalyzer.for_module(protocol.__name__).find_attr_docs()
        lines: list[str] = []
        for holder in env_classes():
            name = holder.__name__
            lines += [f"``{name}``", "-" * (len(name) + 4), ""]
            lines += [inspect.cleandoc(holder.__doc__ or ""), ""]
            lines += [".. list-table::", "   :header-rows: 1", "", "   * - variable", "     - what"]
            for attr, value in vars(holder).items():
                if attr.startswith("_") or not isinstance(value, str):
                    continue
                what = " ".join(docs.get((name, attr), [])).strip() or "(see the pages above)"
                lines += [f"   * - ``{value}``", f"     - ``{name}.{attr}``: {what}"]
            lines.append("")
        lines += ["Renamed variables (the old name is still read, with a warning):", ""]
        for old, new in protocol.RENAMED_ENV.items():
            lines.append(f"- ``{old}``: deprecated, now ``{new}``")
        lines.append("")
        return self.parse(lines)


def computed_default(cls: type, name: str) -> bool:
    """Whether ``cls`` (or a base) computes the default of trait ``name`` (``@default``)."""
    return any(
        getattr(value, "trait_name", None) == name
        for klass in cls.__mro__
        for value in vars(klass).values()
    )


class ComputedDefaultTraitDocumenter(TraitDocumenter):
    """autodoc-traits' trait header, without a misleading default for ``@default`` traits.

    autodoc-traits prints the trait's static ``default_value`` (``Float(0.0)``); where the class
    computes the default at run time (from the environment, another setting), the header says
    so and the help (which states the default) is the reference.
    """

    priority = TraitDocumenter.priority + 1

    def add_directive_header(self, sig: str) -> None:
        trait: TraitType[Any, Any] = self.object
        if not (inspect.isclass(self.parent) and computed_default(self.parent, trait.name)):
            super().add_directive_header(sig)
            return
        kind = trait.__class__.__name__
        self.options.annotation = f"c.{self.format_name()} = {kind}(...)  # default computed"
        AttributeDocumenter.add_directive_header(self, sig)


def env_classes() -> list[type]:
    """The classes of protocol.py holding environment names (``KernelEnv``, ``AWSEnv``, ...)."""
    from jupyter_ai_access import protocol

    return [
        value
        for name, value in vars(protocol).items()
        if inspect.isclass(value) and name.endswith("Env") and value.__module__ == protocol.__name__
    ]


def load_figures() -> Any:
    """scripts/figures as a module (it has no .py suffix)."""
    path = ROOT / "scripts" / "figures"
    loader = SourceFileLoader("jaia_figures", str(path))
    module = ModuleType(loader.name)
    module.__file__ = str(path)
    loader.exec_module(module)
    return module


def load_results(env: Any, name: str) -> Any:
    """``benchmarks/results/NAME.json``, noted as a dependency of the page being read."""
    results_file = ROOT / "benchmarks" / "results" / f"{name}.json"
    env.note_dependency(str(results_file))
    env.note_dependency(str(ROOT / "scripts" / "figures"))
    return json.loads(results_file.read_text(encoding="utf-8"))


class FiguresDirective(SphinxDirective):
    """A benchmark's figures, rendered from its results file when the page is built."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        figures = load_figures()
        if name not in figures.PAGE_BLOCKS:
            raise self.error(
                f"jaia-figures: no renderer for {name!r} in scripts/figures PAGE_BLOCKS "
                f"(known: {', '.join(sorted(figures.PAGE_BLOCKS))})"
            )
        results_file = ROOT / "benchmarks" / "results" / f"{name}.json"
        results = load_results(self.env, name)
        text = figures.PAGE_BLOCKS[name](results)
        node = nodes.container(classes=["jaia-figures", f"jaia-figures-{name}"])
        self.state.nested_parse(StringList(text.splitlines(), source=str(results_file)), 0, node)
        return [node]


class FigureRole(SphinxRole):
    """One phrase of a benchmark's results (``NAME.KEY``), for sentences and table cells."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        name, _, key = self.text.partition(".")
        render = load_figures().INLINE.get(name, {}).get(key)
        if render is None:
            message = self.inliner.reporter.error(
                f"jaia-figure: no INLINE[{name!r}][{key!r}] in scripts/figures", line=self.lineno
            )
            return [], [message]
        text = render(load_results(self.env, name))
        return [nodes.inline(text, text, classes=["jaia-figure", f"jaia-figure-{name}"])], []


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("autodoc_traits")
    app.add_autodocumenter(ComputedDefaultTraitDocumenter, override=True)
    app.add_directive("jaia-configurables", ConfigurablesDirective)
    app.add_directive("jaia-cli", CliDirective)
    app.add_directive("jaia-env", EnvDirective)
    app.add_directive("jaia-figures", FiguresDirective)
    app.add_role("jaia-figure", FigureRole())
    return {"parallel_read_safe": True, "parallel_write_safe": True}
