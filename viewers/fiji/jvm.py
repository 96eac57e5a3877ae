"""Starting ImageJ in this process: a user's Fiji through pyimagej, or Debian's ij.jar.

Two ways in, both ending at the same ImageJ1 classes (the display core of Fiji):

1. ``fiji`` given (or ``FIJI_HOME`` set): ``imagej.init(path, mode="interactive")`` from
   pyimagej starts the user's Fiji installation, with its plugins and LUT files.
2. Otherwise the embedded default: Debian's ``ij.jar`` (package ``libij-java``) on the
   class path of a JVM started by scyjava/JPype. scyjava is told never to fetch a JDK
   (``set_java_constraints(fetch="never")``) and JAVA_HOME points at the installed runtime;
   nothing is ever downloaded.

JVM memory: the default G1 collector keeps each 2048x2048 pixel array as a "humongous"
object that is never copied, so a growing hyperstack costs allocation only (measured: about
1.8 GB/s into the hyperstack, limited by the kernel handing the JVM fresh pages). ``heap``
(e.g. "4g") with ``pretouch`` commits and faults the heap at start (a few seconds, that much
resident memory) and lifts it to about 4 GB/s; see docs/benchmarks.md. The serial and
parallel collectors compact the old generation, copying every plane again, and are slower.
``VIEWERHUB_JVM_OPTIONS`` replaces the default options (space-separated).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_JARS = (Path("/usr/share/java/ij.jar"),)
JVM_OPTIONS = ("-XX:+UseG1GC",)
#: The ImageJ1 classes the adapter uses, by their field in :class:`ImageJ`.
CLASSES = {
    "IJ": "ij.IJ",
    "ImagePlus": "ij.ImagePlus",
    "ImageStack": "ij.ImageStack",
    "CompositeImage": "ij.CompositeImage",
    "ByteProcessor": "ij.process.ByteProcessor",
    "ShortProcessor": "ij.process.ShortProcessor",
    "FloatProcessor": "ij.process.FloatProcessor",
    "LUT": "ij.process.LUT",
    "LutLoader": "ij.plugin.LutLoader",
    "RoiDecoder": "ij.io.RoiDecoder",
    "RoiManager": "ij.plugin.frame.RoiManager",
    "Overlay": "ij.gui.Overlay",
    "ByteOrder": "java.nio.ByteOrder",
}
#: Loggers that announce a Java download that never happens (scyjava 1.12, jgo 2).
FALSE_ALARM_LOGGERS = ("scyjava._jdk_fetch", "jgo.util.java")


class ImageJStartError(RuntimeError):
    """ImageJ could not be started; the message says what is missing and how to get it."""


@dataclass
class ImageJ:
    """Handles to the ImageJ1 classes the adapter uses, whichever way ImageJ was started."""

    jpype: Any
    IJ: Any
    ImagePlus: Any
    ImageStack: Any
    CompositeImage: Any
    ByteProcessor: Any
    ShortProcessor: Any
    FloatProcessor: Any
    LUT: Any
    LutLoader: Any
    RoiDecoder: Any
    RoiManager: Any
    Overlay: Any
    ByteOrder: Any
    source: str
    headless: bool

    @property
    def version(self) -> str:
        return str(self.IJ.getVersion())


def _java_home() -> str | None:
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java:
        return str(Path(java).resolve().parent.parent)
    return None


def start(
    fiji: str | os.PathLike | None = None,
    headless: bool = False,
    heap: str | None = None,
    pretouch: bool = False,
) -> ImageJ:
    """Start ImageJ once per process and return the class handles."""
    fiji = fiji or os.environ.get("FIJI_HOME")
    options = os.environ.get("VIEWERHUB_JVM_OPTIONS", " ".join(JVM_OPTIONS)).split()
    if heap:
        options += [f"-Xms{heap}", f"-Xmx{heap}"]
    if pretouch:
        options.append("-XX:+AlwaysPreTouch")
    options.append(f"-Djava.awt.headless={'true' if headless else 'false'}")
    import scyjava.config

    # scyjava logs "Fetching zulu-jre:11..." before it even reads the fetch mode, and with
    # fetch="never" it only looks up the installed Java: the line is false, so it is muted.
    for name in FALSE_ALARM_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    scyjava.config.set_java_constraints(fetch="never")
    java_home = _java_home()
    if java_home is None:
        raise ImageJStartError("no Java runtime found: apt-get install default-jre-headless")
    os.environ["JAVA_HOME"] = java_home
    log.info("Java from %s (scyjava never downloads one here)", java_home)
    for option in options:
        scyjava.config.add_option(option)
    if fiji:
        source = _start_fiji(Path(fiji), headless)
    else:
        jar = next((j for j in EMBEDDED_JARS if j.exists()), None)
        if jar is None:
            raise ImageJStartError(
                "no ImageJ found: apt-get install libij-java (for /usr/share/java/ij.jar), "
                "or give a Fiji installation with --viewer-options fiji='{\"fiji\": PATH}' "
                "or FIJI_HOME"
            )
        scyjava.config.add_classpath(str(jar))
        scyjava.start_jvm()
        source = str(jar)
    import jpype

    ij = ImageJ(
        jpype=jpype,
        source=source,
        headless=headless,
        **{field: jpype.JClass(name) for field, name in CLASSES.items()},
    )
    log.info("ImageJ %s from %s (headless=%s)", ij.version, source, headless)
    return ij


def _start_fiji(path: Path, headless: bool) -> str:
    if not path.is_dir():
        raise ImageJStartError(f"Fiji installation {str(path)!r} is not a folder")
    try:
        import imagej
    except ImportError:
        raise ImageJStartError(
            "starting a Fiji installation needs pyimagej: pip install 'viewerhub[imagej]'"
        ) from None
    imagej.init(str(path), mode="headless" if headless else "interactive")
    return str(path)


def heap_used_mb(ij: ImageJ) -> float:
    """Java heap in use (MB): what ImageJ holds, for status and the plate benchmark."""
    runtime = ij.jpype.JClass("java.lang.Runtime").getRuntime()
    return (int(runtime.totalMemory()) - int(runtime.freeMemory())) / 1e6


def heap_after_gc_mb(ij: ImageJ) -> float | None:
    """Java heap in use just after the last collection (MB), or None before the first.

    What ImageJ keeps, nearly: ``heap_used_mb`` also counts the garbage of every plane read
    since (a 2048² plane is an 8 MB array), so it rises and falls with the collector's pace.
    """
    jpype = ij.jpype
    beans = jpype.JClass("java.lang.management.ManagementFactory").getGarbageCollectorMXBeans()
    extended = jpype.JClass("com.sun.management.GarbageCollectorMXBean")
    last = None
    for bean in beans:
        info = jpype.JObject(bean, extended).getLastGcInfo()
        if info is not None and (last is None or info.getEndTime() > last.getEndTime()):
            last = info
    if last is None:
        return None
    return sum(int(u.getUsed()) for u in last.getMemoryUsageAfterGc().values()) / 1e6


def live_heap_mb(ij: ImageJ) -> float:
    """Java heap in use after a full collection (MB): what ImageJ really keeps. A full
    collection stops ImageJ for a moment (100-300 ms here), so only when asked (``inspect``)."""
    ij.jpype.JClass("java.lang.System").gc()
    return heap_used_mb(ij)
