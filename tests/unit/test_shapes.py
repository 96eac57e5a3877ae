from __future__ import annotations

import numpy as np
import pytest
from roifile import ROI_TYPE, ImagejRoi

from contract import shapes
from contract.shapes import ShapeError, ShapeKind, parse_shape
from viewers.imagej_rois import color_to_argb, shape_to_rois, trace_mask


@pytest.mark.parametrize(
    "wire",
    [
        {"kind": "polygon", "coords": [[1, 2]]},
        {"kind": "line", "coords": [[1, 2], [3, 4], [5, 6]]},
        {"kind": "polygon", "coords": [[0, 0], [1, float("nan")], [2, 2]]},
        {"kind": "points", "coords": []},
        {"kind": "star", "coords": [[1, 2]]},
        {"kind": "points", "coords": [[1, 2]], "color": "not a colour!"},
        {"kind": "points", "coords": [["a", 2]]},
        {"kind": "mask", "mask": {"origin": [0, 0], "shape": [2, 2], "runs": [3, 5]}},
    ],
)
def test_malformed_shapes_are_refused(wire):
    with pytest.raises(ShapeError):
        parse_shape(wire)


def test_shape_wire_round_trip_keeps_name_colour_properties():
    wire = {
        "kind": "polygon",
        "coords": [[1.0, 2.0], [3.0, 4.0], [5.0, 1.0]],
        "name": "c1",
        "color": "#ff0000",
        "properties": {"area": 12.5, "label": 3},
    }
    assert parse_shape(wire).to_wire() == wire


def test_mask_run_length_round_trip():
    array = np.zeros((5, 7), bool)
    array[1:4, 2:6] = True
    array[4, 0] = True
    shape = shapes.mask(array, origin=(10, 20))
    back = parse_shape(shape.to_wire())
    np.testing.assert_array_equal(back.mask.array, array)
    assert back.mask.origin == (10, 20)
    assert back.bounds() == (10.0, 20.0, 14.0, 26.0)


def test_traced_mask_outline_follows_pixel_edges():
    array = np.zeros((6, 6), bool)
    array[1:3, 2:5] = True  # rows 1-2, columns 2-4
    loops = list(trace_mask(shapes.mask(array, origin=(100, 200))))
    assert len(loops) == 1
    corners = {tuple(v) for v in loops[0].tolist()}
    assert corners == {(101.0, 202.0), (101.0, 205.0), (103.0, 205.0), (103.0, 202.0)}


def test_mask_with_hole_gives_two_loops():
    array = np.ones((5, 5), bool)
    array[2, 2] = False
    assert len(list(trace_mask(shapes.mask(array)))) == 2


@pytest.mark.parametrize(
    ("kind", "coords", "roitype"),
    [
        ("polygon", [[10, 20], [10, 40], [30, 40]], ROI_TYPE.POLYGON),
        ("polyline", [[10, 20], [10, 40], [30, 40]], ROI_TYPE.POLYLINE),
        ("line", [[10, 20], [30, 40]], ROI_TYPE.LINE),
        ("rectangle", [[10, 20], [30, 50]], ROI_TYPE.RECT),
        ("ellipse", [[10, 20], [30, 50]], ROI_TYPE.OVAL),
        ("points", [[10, 20], [11, 21], [12, 22]], ROI_TYPE.POINT),
    ],
)
def test_shapes_become_imagej_rois_with_type_position_and_xy_order(kind, coords, roitype):
    shape = parse_shape({"kind": kind, "coords": coords, "name": "s", "color": "red"})
    (roi,) = shape_to_rois(shape, c=1, z=2, t=0)
    back = ImagejRoi.frombytes(roi.tobytes())
    assert back.roitype == roitype
    assert (back.c_position, back.z_position, back.t_position) == (2, 3, 1)
    assert back.name == "s"
    assert back.stroke_color == color_to_argb("red")
    # ImageJ stores x, y: the box spans x 20.., y 10..
    assert (back.left, back.top) == (20, 10)
    if kind in ("polygon", "polyline", "points"):
        np.testing.assert_allclose(back.coordinates(), np.asarray(coords)[:, ::-1])


def test_mask_becomes_traced_roi():
    array = np.zeros((4, 4), bool)
    array[1:3, 1:3] = True
    (roi,) = shape_to_rois(shapes.mask(array), z=0)
    assert ImagejRoi.frombytes(roi.tobytes()).roitype == ROI_TYPE.TRACED


def test_shape_kinds_cover_the_design():
    assert {k.value for k in ShapeKind} == {
        "polygon",
        "polyline",
        "line",
        "rectangle",
        "ellipse",
        "points",
        "mask",
    }
