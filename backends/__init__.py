"""Pipeline side of viewerhub: what a pipeline calls to stream its output to the hub."""

from backends.streaming import HubError, StreamingBackend

__all__ = ["HubError", "StreamingBackend"]
