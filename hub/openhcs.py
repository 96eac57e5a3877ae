"""Compatibility with the OpenHCS / polystore viewer-streaming sender, unchanged.

That sender opens a REQ socket per viewer per batch to a napari port (5555) or Fiji port
(5565), sends one JSON ``batch`` message whose images sit in shared-memory segments it owns
(``napari_``/``fiji_`` + 12 hex digits), waits up to 30 s for ``{"status": "success"}`` and
then unlinks its segments. Viewers push one ack per displayed item: polystore 0.2.x listens
on a fixed ack port (7555); polystore 0.6 gives each item a ``return_route`` (the URL of that
sender process's own ack listener, its incarnation and owner) and a ``producer``, and accepts
only acks of the form ``{"type": "image_ack", ..., "return_route": <as sent>, "producer":
<as sent>}`` pushed to that URL. Routes are honoured only to loopback TCP or IPC URLs.
Its control port (data port + 1000) speaks JSON in polystore and pickle in older OpenHCS;
pickle is refused here with a JSON error.

This module owns the translation only: endpoint addresses, batch -> viewerhub items (images,
napari shapes/points, Fiji base64 ImageJ ROIs as neutral shapes), replies and acks in the form
that sender expects. The server binds the sockets and runs the items through the same
validation and ingest as native messages.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.protocol import ErrorCode, ProtocolError

DEFAULT_PORTS = {"napari": 5555, "fiji": 5565}
CONTROL_OFFSET = 1000
ACK_PORT = 7555

#: (app name, socket dir, socket prefix) of the senders whose IPC paths we bind.
IPC_FLAVOURS = (("polystore", "ipc", "polystore-zmq"), ("openhcs", "ipc", "openhcs-zmq"))

_NAPARI_TYPES = {
    "polygon": "polygon",
    "path": "polyline",
    "polyline": "polyline",
    "line": "line",
    "rectangle": "rectangle",
    "ellipse": "ellipse",
    "points": "points",
    "point": "points",
}


@dataclass
class CompatConfig:
    """Which OpenHCS endpoints to serve. ``transports``: ``ipc`` and/or ``tcp``."""

    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    ack_port: int = ACK_PORT
    transports: tuple[str, ...] = ("ipc", "tcp")
    host: str = "127.0.0.1"
    reply_timeout_s: float = 25.0  # below the sender's 30 s, so it gets our error, not its own
    orphan_grace_s: float = 10.0  # then unlink a sender segment the sender left behind


def ipc_path(port: int, app: str, directory: str, prefix: str) -> Path:
    """``~/.{app}/{dir}/{prefix}-{port}.sock`` as zmqruntime builds it."""
    if app == "polystore":  # polystore honours these overrides; so do we
        app = os.environ.get("POLYSTORE_ZMQ_APP_NAME", app)
        directory = os.environ.get("POLYSTORE_ZMQ_IPC_DIR", directory)
        prefix = os.environ.get("POLYSTORE_ZMQ_IPC_PREFIX", prefix)
    extension = os.environ.get("POLYSTORE_ZMQ_IPC_EXT", ".sock")
    return Path.home() / f".{app}" / directory / f"{prefix}-{port}{extension}"


def endpoints(port: int, config: CompatConfig) -> list[str]:
    """Every address the sender may connect to for ``port``."""
    out = []
    if "tcp" in config.transports:
        out.append(f"tcp://{config.host}:{port}")
    if "ipc" in config.transports:
        for flavour in IPC_FLAVOURS:
            path = ipc_path(port, *flavour)
            path.parent.mkdir(parents=True, exist_ok=True)
            out.append(f"ipc://{path}")
    return out


def ack_endpoint(transport: str, config: CompatConfig) -> list[str]:
    if transport == "tcp":
        return [f"tcp://127.0.0.1:{config.ack_port}"]
    return [
        f"ipc://{ipc_path(config.ack_port, *flavour)}"
        for flavour in IPC_FLAVOURS
        if ipc_path(config.ack_port, *flavour).exists()
    ]


#: Hosts an ack route may name: a hub never connects out of the machine for a sender.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class AckRoute:
    """Where polystore >= 0.6 wants one item's ack, and the identities to echo back as sent."""

    url: str
    return_route: dict[str, Any]
    producer: dict[str, Any]


def is_local_url(url: str) -> bool:
    """``ipc:///absolute/path`` or ``tcp://`` to a loopback address with a port."""
    if url.startswith("ipc://"):
        return url[len("ipc://") :].startswith("/")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "tcp" and parts.hostname in LOOPBACK_HOSTS and port is not None


def ack_routes(message: dict[str, Any]) -> list[AckRoute | None]:
    """Per image of a translated batch: its polystore 0.6 ack route, None for 0.2.x items."""
    routes: list[AckRoute | None] = []
    for i, entry in enumerate(message.get("images") or []):
        route = entry.get("return_route") if isinstance(entry, dict) else None
        if route is None:
            routes.append(None)
            continue
        where = f"images[{i}]"
        url = route.get("url") if isinstance(route, dict) else None
        if not isinstance(url, str):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: 'return_route' must be an object with a string 'url'",
                "return_route",
            )
        if not is_local_url(url):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: return_route url {url!r:.100} is neither loopback TCP nor IPC; "
                "the hub sends acks only to this machine",
                "return_route",
            )
        producer = entry.get("producer")
        if not isinstance(producer, dict):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{where}: 'producer' must be an object", "producer"
            )
        routes.append(AckRoute(url, route, producer))
    return routes


def reply(ok: bool, message: str) -> dict[str, Any]:
    """The REP body that sender understands: ``status`` success or error, and a message."""
    return {"status": "success" if ok else "error", "message": message}


def image_ack(
    image_id: str,
    port: int,
    viewer_type: str,
    error: str | None,
    route: AckRoute | None = None,
) -> dict[str, Any]:
    """An ack in the form the sender checks: 0.2.x's plain one, or 0.6's routed one."""
    ack: dict[str, Any] = {
        "image_id": image_id,
        "viewer_port": port,
        "viewer_type": viewer_type,
        "status": "error" if error else "success",
        "timestamp": time.time(),
        "error": error,
    }
    if route is not None:
        ack = {"type": "image_ack", **ack}
        ack["return_route"] = route.return_route
        ack["producer"] = route.producer
    return ack


# ----------------------------------------------------------------------------- batches


def translate_batch(message: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """An OpenHCS ``batch`` -> (viewerhub items, their image ids), or ProtocolError."""
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "OpenHCS message must be a JSON object")
    if message.get("type") != "batch":
        raise ProtocolError(
            ErrorCode.UNKNOWN_KIND,
            f"OpenHCS message type {message.get('type')!r:.40} is not 'batch'",
            "type",
        )
    images = message.get("images")
    if not isinstance(images, list) or not images:
        raise ProtocolError(
            ErrorCode.MISSING_FIELD, "batch: 'images' must be a non-empty list", "images"
        )
    config = message.get("display_config")
    items, ids = [], []
    for i, entry in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(entry, dict):
            raise ProtocolError(ErrorCode.MALFORMED, f"{where}: must be an object")
        item = _translate_item(entry, where)
        if isinstance(config, dict):
            item["display_config"] = config
        items.append(item)
        ids.append(str(entry.get("image_id") or ""))
    return items, ids


def _components(entry: dict, where: str) -> dict[str, int | str]:
    metadata = entry.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: 'metadata' must be an object", "metadata"
        )
    return {
        k: v for k, v in metadata.items() if isinstance(v, (int, str)) and not isinstance(v, bool)
    }


def _translate_item(entry: dict, where: str) -> dict[str, Any]:
    data_type = entry.get("data_type", "image")
    base: dict[str, Any] = {
        "components": _components(entry, where),
        "path": str(entry.get("path") or ""),
    }
    if entry.get("image_id"):
        base["id"] = str(entry["image_id"])
    if data_type == "image":
        item = {
            "kind": "image",
            **base,
            "dtype": entry.get("dtype"),
            "shape": entry.get("shape"),
            "shm": entry.get("shm_name"),
        }
        axis, values = entry.get("plane_axis"), entry.get("plane_component_values")
        if axis is not None and values is not None:
            item["stack_component"] = str(axis)
            item["stack_values"] = values
        return item
    if data_type in ("shapes", "points"):
        shapes = entry.get("shapes")
        if not isinstance(shapes, list):
            raise ProtocolError(
                ErrorCode.MISSING_FIELD, f"{where}: 'shapes' must be a list", "shapes"
            )
        return {
            "kind": "shapes",
            **base,
            "shapes": [napari_shape(s, f"{where}.shapes[{n}]") for n, s in enumerate(shapes)],
        }
    if data_type == "rois":
        rois = entry.get("rois")
        if not isinstance(rois, list):
            raise ProtocolError(ErrorCode.MISSING_FIELD, f"{where}: 'rois' must be a list", "rois")
        return {
            "kind": "shapes",
            **base,
            "shapes": [imagej_roi_shape(r, f"{where}.rois[{n}]") for n, r in enumerate(rois)],
        }
    raise ProtocolError(
        ErrorCode.UNKNOWN_KIND, f"{where}: unknown data_type {data_type!r:.40}", "data_type"
    )


def napari_shape(shape: Any, where: str) -> dict[str, Any]:
    """An OpenHCS napari shape dict -> a viewerhub shape dict (validated later)."""
    if not isinstance(shape, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where}: must be an object", "shapes")
    kind = _NAPARI_TYPES.get(str(shape.get("type")))
    if kind is None:
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: unknown shape type {shape.get('type')!r:.40}", "shapes"
        )
    coords = shape.get("coordinates")
    if kind in ("rectangle", "ellipse") and isinstance(coords, list) and len(coords) == 4:
        try:
            ys = [float(c[0]) for c in coords]
            xs = [float(c[1]) for c in coords]
        except (TypeError, ValueError, IndexError):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{where}: bad coordinates", "shapes"
            ) from None
        coords = [[min(ys), min(xs)], [max(ys), max(xs)]]  # the four corners -> the box
    out: dict[str, Any] = {"kind": kind, "coords": coords}
    metadata = shape.get("metadata") or {}
    if isinstance(metadata, dict):
        props = {
            k: v
            for k, v in metadata.items()
            if isinstance(v, (int, float, str)) and not isinstance(v, bool)
        }
        if props:
            out["properties"] = props
        if isinstance(metadata.get("label"), (int, str)):
            out["name"] = str(metadata["label"])
    return out


def imagej_roi_shape(encoded: Any, where: str) -> dict[str, Any]:
    """A base64 ImageJ .roi -> a viewerhub shape dict, so every viewer can show it."""
    from roifile import ROI_TYPE, ImagejRoi

    if not isinstance(encoded, str):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where}: must be a base64 string", "rois")
    try:
        roi = ImagejRoi.frombytes(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: not an ImageJ ROI: {exc}", "rois"
        ) from None
    except Exception as exc:  # roifile raises assorted errors on truncated bytes
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: corrupt ImageJ ROI: {exc}", "rois"
        ) from None
    name = roi.name or None
    box = [[float(roi.top), float(roi.left)], [float(roi.bottom), float(roi.right)]]
    if roi.roitype == ROI_TYPE.RECT:
        out = {"kind": "rectangle", "coords": box}
    elif roi.roitype == ROI_TYPE.OVAL:
        out = {"kind": "ellipse", "coords": box}
    elif roi.roitype == ROI_TYPE.LINE:
        out = {"kind": "line", "coords": [[roi.y1, roi.x1], [roi.y2, roi.x2]]}
    else:
        xy = roi.coordinates()
        if xy is None or len(xy) == 0:
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{where}: ImageJ ROI has no coordinates", "rois"
            )
        kind = {
            ROI_TYPE.POINT: "points",
            ROI_TYPE.POLYLINE: "polyline",
            ROI_TYPE.FREELINE: "polyline",
            ROI_TYPE.ANGLE: "polyline",
        }.get(roi.roitype, "polygon")
        if kind == "polygon" and len(xy) < 3:
            kind = "points" if len(xy) == 1 else "polyline"  # OpenHCS sends points this way
        out = {"kind": kind, "coords": [[float(y), float(x)] for x, y in xy]}
    if name:
        out["name"] = name
    return out
