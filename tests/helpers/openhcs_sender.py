"""Drive the real OpenHCS reference sender (polystore's streaming backends) from tests.

Builds the ``stream_request`` polystore 0.2.x requires and calls its backend's
``save_batch`` unchanged, exactly as an OpenHCS pipeline would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class _Parse:
    def __init__(self, mapping):
        self.mapping = mapping

    def component_wire_mapping(self):
        return dict(self.mapping)


def _build(
    viewer: str,
    port: int,
    transport: str,
    components: Sequence[Mapping[str, Any]],
    modes: Mapping[str, str] | None,
    extra: Mapping[str, Any] | None,
):
    from polystore.streaming.identity import StreamProducerIdentity
    from polystore.streaming.viewer_transport import (
        IndexedViewerStreamSourceMetadata,
        ViewerDisplayConfigABC,
        ViewerFilenameParserABC,
        ViewerMetadataHandlerABC,
        ViewerMicroscopeHandlerABC,
        ViewerStreamProducer,
        ViewerStreamRequest,
        ViewerStreamSource,
        ViewerStreamSourceIdentity,
    )
    from zmqruntime.config import TransportMode
    from zmqruntime.viewer_protocol import ViewerTransportEndpoint

    order = ["well", "site", "channel", "z_index", "timepoint"]
    default_modes = (
        {
            "well": "frame",
            "site": "frame",
            "channel": "channel",
            "z_index": "slice",
            "timepoint": "frame",
        }
        if viewer == "fiji"
        else dict.fromkeys(order, "stack")
    )
    display_extra = (
        dict(extra)
        if extra is not None
        else {"lut": "Grays", "auto_contrast": True}
        if viewer == "fiji"
        else {"colormap": "gray", "variable_size_handling": "pad_to_max"}
    )

    class Display(ViewerDisplayConfigABC):
        COMPONENT_ORDER = order

        def component_modes(self):
            return {**default_modes, **(modes or {})}

        def display_payload_extra(self):
            return display_extra

    class Parser(ViewerFilenameParserABC):
        def parse_filename(self, filename):
            return None

    class Metadata(ViewerMetadataHandlerABC):
        def get_component_values(self, plate_path, component_name):
            return None

    class Handler(ViewerMicroscopeHandlerABC):
        parser = Parser()
        metadata_handler = Metadata()

    return ViewerStreamRequest(
        viewer_transport=ViewerTransportEndpoint(
            host="localhost", port=port, transport_mode=TransportMode(transport)
        ),
        display_config=Display(),
        source=ViewerStreamSource(
            identity=ViewerStreamSourceIdentity(microscope_handler=Handler()),
            metadata=IndexedViewerStreamSourceMetadata(
                metadata_by_index=[dict(c) for c in components]
            ),
        ),
        producer=ViewerStreamProducer.from_identity(
            StreamProducerIdentity(
                origin="direct",
                output_kind="direct",
                output_key="synthetic",
                projection_key="synthetic",
            )
        ),
    )


def backend(viewer: str):
    if viewer == "fiji":
        from polystore.fiji_stream import FijiStreamingBackend

        return FijiStreamingBackend()
    from polystore.napari_stream import NapariStreamingBackend

    return NapariStreamingBackend()


def send(
    sender,
    viewer: str,
    data: Sequence[Any],
    paths: Sequence[str],
    components: Sequence[Mapping[str, Any]],
    *,
    port: int,
    transport: str = "ipc",
    modes: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """One ``save_batch`` call of the real sender."""
    request = _build(viewer, port, transport, components, modes, extra)
    sender.save_batch(list(data), list(paths), stream_request=request)


def plane(value: int, size: int = 32) -> np.ndarray:
    return np.full((size, size), value, np.uint16)
