"""OpenHCS batches as polystore really sends them, translated into items the hub accepts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from contract.protocol import ProtocolError
from contract.shapes import parse_shape, parse_shapes
from hub.openhcs import imagej_roi_shape, translate_batch
from viewers.imagej_rois import shape_to_rois

REFERENCE = Path("/work/shared/reference")
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="no OpenHCS reference batches")


def _message(name: str, viewer: str) -> dict:
    return json.loads((REFERENCE / name).read_text())[viewer]["message"]


@pytest.mark.parametrize("viewer", ["napari", "fiji"])
def test_an_image_batch_becomes_image_items_with_components_and_ids(viewer):
    message = _message("openhcs_sample_batch.json", viewer)
    items, ids = translate_batch(message)
    assert ids == [entry["image_id"] for entry in message["images"]]
    first, entry = items[0], message["images"][0]
    assert first["kind"] == "image"
    assert first["components"] == entry["metadata"]
    assert (first["shm"], first["dtype"], first["shape"]) == (
        entry["shm_name"],
        "uint16",
        [2048, 2048],
    )
    assert first["id"] == entry["image_id"]


@pytest.mark.parametrize("viewer", ["napari", "fiji"])
def test_napari_shapes_and_fiji_rois_both_become_valid_shape_items(viewer):
    message = _message("openhcs_sample_batch_rois.json", viewer)
    items, _ = translate_batch(message)
    assert [item["kind"] for item in items] == ["image", "shapes", "image", "shapes"]
    for item in items[1::2]:
        shapes = parse_shapes(item["shapes"])  # what the hub's validation does
        assert shapes and all(s.coords.shape[1] == 2 for s in shapes)
        assert item["components"]["well"] == "A01"


def test_napari_and_fiji_batches_give_the_same_outlines():
    napari, _ = translate_batch(_message("openhcs_sample_batch_rois.json", "napari"))
    fiji, _ = translate_batch(_message("openhcs_sample_batch_rois.json", "fiji"))
    for a, b in zip(napari[1::2], fiji[1::2]):
        assert len(a["shapes"]) == len(b["shapes"])
        for sa, sb in zip(parse_shapes(a["shapes"]), parse_shapes(b["shapes"])):
            assert sa.kind == sb.kind
            np.testing.assert_allclose(sa.coords, sb.coords, atol=1.0)


def test_a_batch_that_is_not_a_batch_is_refused_naming_the_type():
    with pytest.raises(ProtocolError, match="'frame' is not 'batch'"):
        translate_batch({"type": "frame", "images": []})


@pytest.mark.parametrize(
    "wire",
    [
        {
            "kind": "polygon",
            "coords": [[10, 20], [10, 40], [30, 40]],
            "name": "p",
            "color": "purple",
        },
        {"kind": "rectangle", "coords": [[10, 20], [30, 50]], "name": "r"},
        {"kind": "line", "coords": [[10.5, 20], [30, 40.25]], "name": "l"},
        {"kind": "points", "coords": [[1, 2], [3, 4]], "name": "pts"},
    ],
)
def test_a_shape_round_trips_through_imagej_roi_bytes(wire):
    shape = parse_shape(wire)
    (roi,) = shape_to_rois(shape)
    back = parse_shape(imagej_roi_shape(base64.b64encode(roi.tobytes()).decode(), "rois[0]"))
    assert back.kind is shape.kind
    assert back.name == shape.name
    np.testing.assert_allclose(back.coords, shape.coords)
