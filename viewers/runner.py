"""Entry point of a viewer process: ``python -m viewers.runner PLUGIN --hub ENDPOINT``.

The hub's supervisor starts viewers this way; a user can too, to connect a viewer to a
running hub by hand (``--hub`` is the hub's viewer endpoint, shown by ``hub status``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from contract import defaults
from viewers import registry
from viewers.client import ViewerClient

log = logging.getLogger("viewers.runner")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viewers.runner")
    parser.add_argument("plugin", help="registered viewer name (see `hub viewers`)")
    parser.add_argument("--hub", default=defaults.VIEWER_ENDPOINT, help="hub viewer endpoint")
    parser.add_argument("--name", help="instance name (default: the plugin name)")
    parser.add_argument("--hub-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--options", default="{}", help="JSON object of viewer options")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose > 1 else logging.INFO,
        format=f"%(asctime)s {args.name or args.plugin} %(levelname)s %(name)s: %(message)s",
    )
    try:
        viewer_class = registry.load(args.plugin)
        options = json.loads(args.options)
        viewer = viewer_class(**options)
        viewer.start()
    except Exception:
        log.exception("viewer %s could not start", args.plugin)
        return 3
    client = ViewerClient(
        args.hub, args.name or args.plugin, viewer, plugin=args.plugin, hub_pid=args.hub_pid
    )
    clean = False
    try:
        viewer.run(client)
        clean = True
    finally:
        client.close(clean=clean)  # after a crash, no goodbye: the hub restarts us
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
