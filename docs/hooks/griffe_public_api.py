"""griffe extensions for the API reference (mkdocs.yml ``extensions:``; also used by
``docs/hooks/check_api.py``). The package is read statically, as mkdocstrings reads it.

Public names win: let a public name win over the submodule it shares a name with.
``embedframe/__init__.py`` does ``from .estimate import estimate`` (and the same for
``search``): at run time ``embedframe.estimate`` is the function, because the import
rebinds the package attribute after the submodule is loaded. griffe, which reads the source
without importing it, cannot hold a member and a submodule under one name and keeps the
submodule, so ``::: embedframe.estimate`` would document the module instead of the
function (see griffe's "avoid member-submodule name shadowing"). Once the package is
loaded, this resolves every alias that may pass through such a submodule
(``embedframe.estimate.Estimate``, ...) while the submodule is still reachable, then puts
back, for each name in ``__all__`` that the package re-exports from a same-named submodule,
an alias to the object itself, as Python sees it. It does nothing when no name is shadowed,
so moving or renaming modules needs no change here.

Sphinx roles: the docstrings use Sphinx roles (``:func:`aembed```,
``:class:`EmbedConfig```), which Markdown would show as they are typed. A role naming a
public name becomes a link to its entry in the reference; any other becomes code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|exc|obj|mod|const):`~?([^`<>]+)`")


def shadowed_exports(pkg: griffe.Module) -> list[tuple[str, griffe.Object | griffe.Alias]]:
    """``(name, object)`` for each exported name that griffe holds as a submodule while the
    package imports from that submodule an object of the same name."""
    found = []
    for name in pkg.exports or ():
        member = pkg.members.get(str(name))
        if member is None or member.is_alias or not member.is_module:
            continue
        inner = member.members.get(str(name))
        if inner is not None and (inner.is_alias or not inner.is_module):
            found.append((str(name), inner))
    return found


def _objects(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def sphinx_roles_as_markdown(pkg: griffe.Module) -> None:
    """Turn ``:func:`name``` into a link to ``embedframe.name`` when that is public, else code."""
    public = {str(n) for n in pkg.exports or ()} - {"__version__"}

    def replace(match: re.Match[str]) -> str:
        text = match.group(1).strip()
        name = text.removeprefix(f"{pkg.name}.")
        if name in public:
            return f"[`{text}`][{pkg.name}.{name}]"
        return f"`{text}`"

    for obj in _objects(pkg):
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(replace, obj.docstring.value)


def public_names_win(pkg: griffe.Module, loader: griffe.GriffeLoader) -> None:
    """Give an exported name precedence over a submodule of the same name."""
    shadowed = shadowed_exports(pkg)
    if not shadowed:
        return
    # Every alias through `pkg.NAME.` must find its target now: after the swap that path
    # leads to the object, not the module.
    loader.resolve_aliases(implicit=True, external=False)
    for name, obj in shadowed:
        target = obj.final_target if obj.is_alias else obj
        pkg.members[name] = griffe.Alias(name, target, parent=pkg)


class PublicApi(griffe.Extension):
    """Both, once the package is loaded: roles first, while every module is reachable."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        sphinx_roles_as_markdown(pkg)
        public_names_win(pkg, loader)
