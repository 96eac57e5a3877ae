"""Viewer side of viewerhub: the Viewer/DisplayConfig contract, shapes, placement, plugins."""
