"""Qt widgets (through qtpy: PyQt5, PyQt6 or PySide6) for embedding the hub in a GUI."""

from hub.qt.panel import HubPanel

__all__ = ["HubPanel"]
