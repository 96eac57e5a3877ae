"""Live mode: the sliders jump to the newest plane once per flush, never per plane."""

from __future__ import annotations

from types import SimpleNamespace

from viewers.napari.follow import Follow


def dims() -> SimpleNamespace:
    return SimpleNamespace(axis_labels=("well", "site", "y", "x"), current_step=(0, 0, 0, 0))


def test_the_sliders_go_to_the_newest_plane_and_say_which_items_are_in_view():
    viewer = SimpleNamespace(dims=dims())
    follow = Follow(enabled=True)
    axes = ("well", "site")
    for index, position in enumerate([(0, 0), (0, 0), (3, 1), (3, 1)]):
        follow.arrived(axes, position, index)
    assert follow.pending
    assert follow.move(viewer) == [2, 3]  # the burst's newest position only
    assert viewer.dims.current_step == (3, 1, 0, 0)
    assert not follow.pending and follow.move(viewer) is None  # nothing new: no move
    follow.arrived(axes, (3, 1), 4)  # more of the same position: already in view
    assert not follow.pending


def test_off_by_default_nothing_moves():
    viewer = SimpleNamespace(dims=dims())
    follow = Follow()
    follow.arrived(("well", "site"), (2, 2), 0)
    assert not follow.pending and follow.move(viewer) is None
    assert viewer.dims.current_step == (0, 0, 0, 0)
