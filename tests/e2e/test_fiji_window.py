"""HyperstackWindow on a real ImageJ in this process: growth keeps the user's display."""

from __future__ import annotations

import os

import numpy as np
import pytest

from viewers.base import Item
from viewers.fiji import readback
from viewers.fiji.config import FijiDisplayConfig
from viewers.placement import place

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ij():
    from viewers.fiji import jvm

    # Headless in the test process itself: AWT threads started here can keep the JVM, and so
    # pytest, from exiting. Windows under Xvfb are tested in viewer processes (test_fiji.py).
    return jvm.start(headless=True)


@pytest.fixture
def viewer(ij):
    from viewers.fiji import FijiViewer

    fiji = FijiViewer(headless=ij.headless)
    fiji.ij, fiji.fiji_luts = ij, None
    yield fiji
    fiji.close()


def show(viewer, index, components, array, config=None):
    """One item, then the draw the viewer's loop makes after each poll."""
    viewer.show(Item(index, "image", components, config or FijiDisplayConfig(), array=array))
    viewer.draw()


def test_user_lut_and_contrast_survive_new_channels_slices_and_frames(viewer, ij):
    config = FijiDisplayConfig.from_wire({"channel_colors": {"1": "Red", "2": "Cyan"}})
    show(
        viewer,
        0,
        {"channel": 1, "z_index": 1},
        np.arange(100, dtype=np.uint16).reshape(10, 10),
        config,
    )
    window = viewer.current
    imp = window.imp
    imp.setDisplayRange(5, 50)  # the user adjusts contrast ...
    imp.setLut(ij.LUT(ij.LutLoader.getLut("fire"), 5.0, 50.0))  # ... and picks another LUT
    show(viewer, 1, {"channel": 1, "z_index": 2}, np.full((10, 10), 9000, np.uint16), config)
    show(viewer, 2, {"channel": 2, "z_index": 1}, np.full((10, 10), 7, np.uint16), config)
    show(
        viewer,
        3,
        {"channel": 2, "z_index": 1, "timepoint": 2},
        np.full((10, 10), 8, np.uint16),
        config,
    )
    described = readback.describe(window)
    assert described["dimensions"] == [10, 10, 2, 2, 2]
    fire, cyan = described["channels"]
    assert fire["display_range"] == [5.0, 50.0]
    assert fire["lut_max_rgb"] == [255, 255, 255]  # Fire ends in white; Red would be [255,0,0]
    assert cyan["lut_max_rgb"] == [0, 255, 255]


def test_frames_append_without_rebuilding_and_values_stay(viewer):
    for t in range(1, 8):
        show(viewer, t, {"channel": 1, "timepoint": t}, np.full((8, 8), t, np.uint8))
    window = viewer.current
    assert window.dims == (1, 1, 7)
    stack = window.imp.getStack()
    assert [stack.getProcessor(n).get(0, 0) for n in range(1, 8)] == list(range(1, 8))


def test_other_dtypes_follow_the_documented_rule(viewer):
    show(viewer, 0, {"channel": 1}, np.full((4, 4), -3, np.int16))
    window = viewer.current
    assert window.imp.getBitDepth() == 32
    assert window.imp.getProcessor().getf(0, 0) == -3.0  # no wrap-around to 65533


def test_placement_is_shared_with_the_recorder_and_napari(viewer):
    config = FijiDisplayConfig()
    components = {"well": "A01", "site": 2, "channel": 1, "z_index": 1, "timepoint": 3}
    show(viewer, 0, components, np.zeros((4, 4), np.uint8), config)
    placement = place(components, config)
    window = viewer.windows[placement.window]
    # well, site and timepoint combined on frames: a plate is one window (issue #13)
    assert window.index.keys["t"] == [("A01", 2, 3)]


def test_composite_mode_comes_from_the_config(viewer):
    config = FijiDisplayConfig.from_wire({"composite_mode": "color"})
    for c in (1, 2):
        show(viewer, c, {"channel": c}, np.zeros((4, 4), np.uint8), config)
    assert viewer.current.imp.getMode() == 2  # IJ.COLOR


def _hub_planes(viewer, tmp_path, planes):
    """One frame per plane, each in a segment under /dev/shm (named so no hub's sweep takes
    it) with its store chunk written, as the hub hands them to Fiji; returns the segments."""
    from contract.planes import PlaneRef, chunk_file
    from contract.shm import SHM_DIR

    segments = []
    for t, plane in enumerate(planes):
        segment = SHM_DIR / f"vhtest-fiji-recycle-{os.getpid()}-{t}"
        plane.tofile(segment)
        segments.append(segment)
        cold = (str(tmp_path), "plate/A/1/0", t, 0, 0)
        chunk_file(cold).parent.mkdir(parents=True, exist_ok=True)
        plane.tofile(chunk_file(cold))
        ref = PlaneRef(plane.shape, plane.dtype, segment=segment.name, cold=cold)
        components = {"channel": 1, "timepoint": t + 1}
        viewer.show(Item(t, "image", components, FijiDisplayConfig(), array=plane, refs=[ref]))
        viewer.draw()
    return segments


def _overwrite(segment):
    """What a read racing a recycle finds: the producer's next plane in the same file (the
    hub renamed the segment and leased it; the producer wrote into it)."""
    np.full((16, 16), 7, np.uint16).tofile(segment)  # same inode, as the lessee writes it


def _rename(segment):
    """The hub's side of the recycle: the segment's name is gone (leased under another)."""
    segment.rename(segment.with_name(segment.name + "-leased"))


@pytest.fixture
def segments():
    made = []
    yield made
    for segment in made:
        segment.unlink(missing_ok=True)
        segment.with_name(segment.name + "-leased").unlink(missing_ok=True)


def test_a_goto_read_racing_a_recycle_is_read_again_from_the_store(viewer, tmp_path, segments):
    planes = [np.full((16, 16), 1000 + t, np.uint16) for t in range(2)]
    segments += _hub_planes(viewer, tmp_path, planes)
    window = viewer.current
    assert window.imp.getT() == 1 and window.files.census()["hot"] == 2
    window.goto((None, None, 1))
    files, check = window.files, window.files.recheck

    def renamed_during_the_read(view):  # ImageJ has read frame 1 (7s); the name goes now
        _rename(segments[0])
        return check(view)

    files.recheck = renamed_during_the_read
    _overwrite(segments[0])
    window.goto((None, None, 0))  # ImageJ reads frame 1 from its segment: the later plane
    assert window.imp.getT() == 1
    assert window.imp.getProcessor().get(0, 0) == 1000  # read again, from the store chunk
    assert files.census()["cold"] == 1


def test_a_scroll_read_racing_a_recycle_is_read_again_at_the_sweep(viewer, tmp_path, segments):
    planes = [np.full((16, 16), 2000 + t, np.uint16) for t in range(2)]
    segments += _hub_planes(viewer, tmp_path, planes)
    window = viewer.current
    window.goto((None, None, 1))
    window.sweep()  # the goto's view is checked
    _overwrite(segments[0])
    window.imp.setPosition(1, 1, 1)  # the user scrolls: ImageJ reads frame 1 on its own ...
    assert window.imp.getProcessor().get(0, 0) == 7
    _rename(segments[0])  # ... while the hub recycled its segment
    window.files._next_sweep = 0.0
    window.sweep()
    assert window.imp.getProcessor().get(0, 0) == 2000
    assert window.files.census()["cold"] == 1


def test_a_goto_to_a_frame_still_arriving_is_applied_once_the_frame_is_whole(viewer):
    from tests.conftest import wait_for

    def send(index, channel, t):
        plane = np.full((8, 8), 100 * t + channel, np.uint16)
        viewer.show(
            Item(
                index,
                "image",
                {"channel": channel, "timepoint": t},
                FijiDisplayConfig(),
                array=plane,
            )
        )
        viewer.draw(patient=True)

    for index, (channel, t) in enumerate([(1, 1), (2, 1), (1, 2)]):
        send(index, channel, t)
    window = wait_for(lambda: viewer.current.imp is not None and viewer.current, 5, "a window")
    reply = viewer.goto({"timepoint": 2})
    assert reply["position"] == [1, 1, 2] and window.imp.getT() == 1  # channel 2 on its way
    assert window.in_view((1, 0, 1))  # it counts as in view: the user asked for its frame
    send(3, 2, 2)
    assert window.imp.getT() == 2  # made whole: gone to, both channels read there
    assert window.imp.getProcessor().get(0, 0) == 201  # read at the new frame

    send(4, 1, 3)  # a frame that stays partial: gone to once no plane came for a while
    viewer.goto({"timepoint": 3})
    wait_for(lambda: viewer.draw(patient=True) or window.imp.getT() == 3, 5, "the goto")
