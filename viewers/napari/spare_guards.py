"""Keeping napari's own features from meeting the hidden spare layers (``spares``).

napari treats every layer of its list alike; the spares are layers a person must never meet.
Each guard here answers something napari did with them that a person tripped on, found by
trying it as a person would under Xvfb (see ``viewers/napari/spares.py``): the layer list
view, its drag and drop, "Show All Unselected Layers" and "Save All Layers".
"""

from __future__ import annotations

import warnings
from typing import Any

#: Name prefix of a spare layer (and what the layer list view filters out).
SPARE_PREFIX = "viewerhub spare layer"


def is_spare(layer: Any) -> bool:
    """Whether ``layer`` is a spare (a filled spare is renamed, and is one no longer)."""
    return str(getattr(layer, "name", "")).startswith(SPARE_PREFIX)


def save_without_spares(viewer: Any) -> None:
    """napari's "Save All Layers" (``LayerList.save``, which its File menu calls) without the
    spares: it wrote every layer of the list, and a spare, a multiscale, made napari's writer
    fail (``MultiScaleData.__array__``) for a scene of small planes that saved fine alone.
    The same selection rule as napari's, on this viewer's list only."""
    layers = viewer.layers

    def save(
        path: str, *, selected: bool = False, plugin: str | None = None, _writer: Any = None
    ) -> list[str]:
        from napari.plugins.io import save_layers

        chosen = [
            layer
            for layer in layers
            if not is_spare(layer) and (not selected or layer in layers.selection)
        ]
        if not chosen:
            warnings.warn("No layers selected" if selected else "No layers to save", stacklevel=2)
            return []
        return save_layers(path, chosen, plugin=plugin, _writer=_writer)

    layers.save = save


def keep_hidden(event: Any) -> None:
    """A spare stays hidden until it is filled (renamed first, so no longer a spare):
    napari's "Show All Unselected Layers" showed the spares too, and grid mode then gave
    each an empty panel beside the channels."""
    layer = event.source
    if is_spare(layer) and layer.visible:
        layer.visible = False


def hide_in_layer_list(viewer: Any) -> None:
    """Leave spare layers out of napari's layer list view (no window: nothing to hide)."""
    try:
        view = viewer.window._qt_viewer.layers  # no public accessor
    except AttributeError:
        return
    from qtpy.QtCore import QRegularExpression

    proxy = _shown_layers_proxy()(view.model().sourceModel())
    proxy.setFilterRegularExpression(QRegularExpression(f"^(?!{SPARE_PREFIX})"))
    view.setModel(proxy)
    view._sync_selection_models()  # napari's: the new selection model from its selection


_PROXY: Any = None


def _shown_layers_proxy() -> Any:
    """napari's layer list proxy (reversed rows), with drops mapped through the rows shown.

    napari maps a drop at view row ``r`` to list position ``len(layers) - r``, and a drop
    on the empty space below the rows (Qt's row -1) to position 0: counted with hidden
    rows, so such a drop put the layer below the spares, and every drop after it landed a
    row off. Here row ``r`` is just above the layer shown in that row, and the end of the
    view (or row -1) just below the bottom layer shown; the layers dragged are found where
    they are at the drop (``_moving_now``). Made once, on first use (Qt)."""
    global _PROXY
    if _PROXY is None:
        from napari._qt.containers.qt_layer_list import ReverseProxyModel  # no public one

        class _ShownLayersProxy(ReverseProxyModel):
            def dropMimeData(  # noqa: N802 (Qt's name)
                self, data: Any, action: Any, row: int, column: int, parent: Any
            ) -> bool:
                _moving_now(data, self.sourceModel())
                shown = self.rowCount()
                if not shown:
                    target = 0
                elif 0 <= row < shown:
                    target = self.mapToSource(self.index(row, 0)).row() + 1
                else:
                    target = self.mapToSource(self.index(shown - 1, 0)).row()
                return self.sourceModel().dropMimeData(data, action, target, column, parent)

        _PROXY = _ShownLayersProxy
    return _PROXY


def _moving_now(data: Any, source: Any) -> None:
    """Point a drag's list positions at its layers' positions now.

    napari's drag data holds the positions the layers had when the drag began, and a drag
    runs Qt's event loop, so the viewer keeps polling the hub meanwhile: a spare made (at the
    bottom) or filled (moved to the top) shifted the positions and the drop moved another
    layer than the one under the person's mouse. The layers themselves travel with the drag
    (``ItemMimeData.items``)."""
    items, root = getattr(data, "items", None), getattr(source, "_root", None)
    if items and root is not None and all(item in root for item in items):
        data.indices = tuple(sorted(root.index(item) for item in items))
