"""The plugin registry: viewers are found by name through Python entry points.

A package makes a viewer available by declaring, in its ``pyproject.toml``::

    [project.entry-points."viewerhub.viewers"]
    myviewer = "my_package.viewer:MyViewer"

The hub only lists names here; the class is imported inside the viewer's own process, so a
heavy or broken plugin never slows or breaks the hub.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

GROUP = "viewerhub.viewers"


class UnknownViewerError(LookupError):
    """No installed plugin has the requested name."""


def available() -> dict[str, EntryPoint]:
    """Installed viewer plugins by name (the first distribution wins on a name clash)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return dict(sorted(found.items()))


def resolve(names: list[str]) -> list[str]:
    """Check that every name is installed; the error lists what is."""
    installed = available()
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise UnknownViewerError(
            f"unknown viewer(s) {', '.join(unknown)}; installed: {', '.join(installed) or 'none'}"
        )
    return names


def load(name: str) -> type:
    """Import and return the Viewer class registered as ``name``."""
    installed = available()
    if name not in installed:
        resolve([name])
    return installed[name].load()
