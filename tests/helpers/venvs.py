"""Venvs for tests that need another set of packages (a plugin, another polystore line).

``make_venv`` builds a venv that also sees *this* interpreter's packages, whatever this
interpreter is (pyenv, a project venv, Debian's python3 in a venv without system packages):
a ``.pth`` file adds each of our site directories after the venv's own, so what is installed
into the venv wins and everything else (viewerhub, numpy, zmq, pip) comes from here.
``--system-site-packages`` would instead inherit the *base* interpreter's packages, which a
project venv on a PEP 668 system does not have.
"""

from __future__ import annotations

import site
import subprocess
import venv
from pathlib import Path


def make_venv(root: Path) -> Path:
    """Create ``root`` as such a venv; return its python."""
    venv.EnvBuilder(with_pip=False, clear=True).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "viewerhub-inherit.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    return python
