"""A lazy viewer keeps plane references, not pixels, and still reads every plane after the
hub moved it from shared memory to its store (the ``cold`` message re-points the refs)."""

from __future__ import annotations

import numpy as np

from backends import StreamingBackend
from contract.planes import PlaneGoneError, PlaneRef
from tests.conftest import wait_for
from viewers.base import Item, Viewer
from viewers.recorder import RecorderDisplayConfig

PLANE = (512, 1024)  # 1 MiB of uint16


class KeepsRefs(Viewer):
    """What napari's and Fiji's lazy layers do, without a GUI: keep refs, read on demand."""

    config_class = RecorderDisplayConfig

    def __init__(self) -> None:
        super().__init__()
        self.refs: dict[int, PlaneRef] = {}
        self.relocated_count = 0

    def start(self) -> None: ...

    def show(self, item: Item) -> None:
        if item.kind == "image":
            assert len(item.refs) == 1
            self.refs[int(item.components["z_index"])] = item.refs[0]

    def relocated(self, refs: list[PlaneRef]) -> None:
        self.relocated_count += len(refs)

    def clear(self) -> None:
        self.refs.clear()

    def screenshot(self, path):  # pragma: no cover - not asked for here
        raise NotImplementedError

    def close(self) -> None: ...


def _plane(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 4000, PLANE, dtype=np.uint16)


def test_refs_follow_planes_from_shared_memory_to_the_store(start_hub, tmp_path):
    from viewers.client import ViewerClient

    hub = start_hub((), memory_budget=8 * 1024 * 1024, extra_args=["--store", str(tmp_path)])
    viewer = KeepsRefs()
    client = ViewerClient(hub.viewer_endpoint, "lazy", viewer)
    n = 32  # 32 MiB through an 8 MiB budget: most planes end up on disk only
    try:
        with StreamingBackend(hub=hub, timeout_s=60) as backend:
            for i in range(n):
                backend.save(_plane(i), "", well="B03", site=1, channel=1, z_index=i)
                client.poll_once(timeout_ms=0)

        def settled() -> bool:
            client.poll_once(timeout_ms=50)
            return len(viewer.refs) == n and hub.status()["hub"]["evicted"] > 0

        wait_for(settled, 60, "every plane shown and some evicted")
        wait_for(lambda: client.poll_once(50) or viewer.relocated_count >= n - 8, 60, "cold refs")
        cold = [i for i, ref in viewer.refs.items() if not ref.hot]
        assert len(cold) >= n - 8  # re-pointed at the store
        for i, ref in viewer.refs.items():
            try:
                plane = ref.read()
            except PlaneGoneError:  # only a plane still hot may be mid-eviction: not here
                raise AssertionError(f"plane {i} unreadable ({ref})") from None
            np.testing.assert_array_equal(plane, _plane(i))
    finally:
        client.close()


class CopiesPixels(KeepsRefs):
    """An eager viewer: reads item.array during show (the recorder, a third-party plugin)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[int, int] = {}

    def show(self, item: Item) -> None:
        assert item.array is not None
        self.values[int(item.components["z_index"])] = int(item.array[0, 0])


def test_an_eager_viewer_that_falls_behind_still_gets_every_plane(start_hub, tmp_path):
    """Its items wait in its queue while the hub writes them to disk and evicts them: the
    client holds each until the cold message queued behind it says where the plane went."""
    from viewers.client import ViewerClient

    hub = start_hub((), memory_budget=8 * 1024 * 1024, extra_args=["--store", str(tmp_path)])
    viewer = CopiesPixels()
    client = ViewerClient(hub.viewer_endpoint, "eager", viewer)
    client.poll_once(100)
    n = 32
    try:
        with StreamingBackend(hub=hub, timeout_s=60) as backend:
            for i in range(n):  # the viewer does not poll: everything waits in its queue
                backend.save(np.full(PLANE, i, np.uint16), "", well="B03", site=1, z_index=i)
        wait_for(lambda: hub.status()["hub"]["evicted"] > 0, 30, "evictions")

        def all_shown() -> bool:
            client.poll_once(timeout_ms=50)
            return len(viewer.values) == n

        wait_for(all_shown, 60, "every plane shown")
        assert viewer.values == {i: i for i in range(n)}
        assert client.errors == 0, client.last_error
    finally:
        client.close()
