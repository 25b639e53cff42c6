"""MkDocs hook: the API reference covers the public API, and only it.

Run by ``mkdocs build`` (mkdocs.yml ``hooks:``). Each problem is a warning, so
``mkdocs build --strict`` (tests/test_docs.py) fails on it:

* a name in ``embedframe.__all__`` that ``docs/api.md`` does not document with
  ``::: embedframe.NAME``;
* a ``:::`` identifier in any page that is not ``embedframe.NAME`` for a name in
  ``__all__``: module paths (``embedframe._job.engine.JobStats``) change as the package
  is reorganised, the public names do not;
* a public function or class with no docstring, or a public name that griffe cannot
  resolve to what ``import embedframe`` gives (see ``griffe_public_api.py``).

The package is read statically with griffe, as mkdocstrings reads it: nothing is imported.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import griffe

log = logging.getLogger("mkdocs.hooks.check_api")

PACKAGE = "embedframe"
NOT_DOCUMENTED = {"__version__"}  # a string; the reference names it in prose
IDENTIFIER = re.compile(r"^:::\s*(\S+)", re.MULTILINE)


def _public_names(pkg: griffe.Module) -> list[str]:
    return [str(n) for n in (pkg.exports or ())]


def on_config(config: Any, **kwargs: Any) -> Any:
    root = Path(config.config_file_path).parent
    docs = Path(config.docs_dir)
    extensions = griffe.load_extensions(str(Path(__file__).with_name("griffe_public_api.py")))
    pkg = griffe.load(PACKAGE, search_paths=[str(root)], extensions=extensions, resolve_aliases=True)
    public = _public_names(pkg)
    if not public:
        log.warning(f"{PACKAGE}/__init__.py has no __all__: the API reference cannot be checked")
        return config

    documented: set[str] = set()
    for page in sorted(docs.rglob("*.md")):
        for ident in IDENTIFIER.findall(page.read_text(encoding="utf-8")):
            name = ident.removeprefix(f"{PACKAGE}.")
            if ident == name or name not in public:
                log.warning(
                    f"{page.relative_to(docs)}: '::: {ident}' is not a public name; reference "
                    f"'{PACKAGE}.NAME' for a NAME in {PACKAGE}.__all__, never a module path"
                )
            documented.add(name)

    for name in public:
        if name in NOT_DOCUMENTED:
            continue
        if name not in documented:
            log.warning(f"api.md does not document {PACKAGE}.{name} (in __all__): add '::: {PACKAGE}.{name}'")
        try:
            obj = pkg[name]
            target = obj.final_target if obj.is_alias else obj
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError) as exc:
            log.warning(f"{PACKAGE}.{name} cannot be resolved from the source: {exc}")
            continue
        if target.is_module:
            log.warning(f"{PACKAGE}.{name} resolves to a module, not the object {PACKAGE} exports")
        elif (target.is_function or target.is_class) and not (
            target.docstring and target.docstring.value.strip()
        ):
            log.warning(f"{PACKAGE}.{name} ({target.path}) has no docstring")
    return config
