"""The viewerhub hub: one stream of pipeline output in, any number of viewers out."""

from contract.connection import HubError, HubTimeoutError
from hub.launcher import HubHandle, connect, launch

__all__ = ["HubError", "HubHandle", "HubTimeoutError", "connect", "launch"]
