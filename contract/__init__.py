"""The contract every side of viewerhub shares: the bottom layer.

Wire protocol and its decoding policy (``protocol``), shared-memory segment naming and safe
opening (``shm``), the viewer-neutral shape model (``shapes``), the display-config base
(``display_config``), keys and the request/reply client (``keys``, ``connection``) and the
defaults every command reads (``defaults``).

It imports nothing from ``hub``, ``viewers`` or ``backends`` (``tests/unit/test_imports.py``
checks it), so the hub, every viewer plugin and every producer can depend on it without
depending on each other.
"""
