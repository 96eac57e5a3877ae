"""What a Fiji user sees: the ImageJ bar, image windows on screen, and reading them back.

ImageJ decides a window's scrollbars when the window is built (``StackWindow.addScrollbars``:
one per hyperstack dimension larger than one, only if the image says ``openAsHyperStack``
and is a CompositeImage or displayed hyperstack). When the image grows,
``ImagePlus.setStack`` rebuilds the window in most cases; :func:`ensure_hyperstack_window`
checks the window really matches the image and rebuilds it in place (same location, same
canvas) when not, so a window never shows a single "3/30" slider over a hyperstack.

The geometry read back here (:func:`window_geometry`) is what tests and support use to click
a real scrollbar: StackWindow keeps its selectors in protected fields, read by reflection.
"""

from __future__ import annotations

import logging
from typing import Any

from viewers.fiji.jvm import ImageJ

log = logging.getLogger(__name__)

SELECTORS = {"c": "cSelector", "z": "zSelector", "t": "tSelector"}


def start_user_interface(ij: ImageJ) -> Any:
    """The ImageJ bar (menus, toolbar, status line), started if no one started it yet.

    ``ImageJ.EMBEDDED`` shows it like Fiji does but quitting it never exits the JVM (the
    viewer process, not the user, decides when ImageJ ends). With the bar present, image
    windows get ImageJ's key listener, so shortcuts (arrows, Ctrl+Shift+C...) work.
    """
    instance = ij.IJ.getInstance()
    if instance is None:
        imagej_class = ij.jpype.JClass("ij.ImageJ")
        instance = imagej_class(imagej_class.EMBEDDED)
        log.info("ImageJ bar shown")
    return instance


def expected_scrollbars(imp: Any) -> str:
    """The scrollbars ImageJ's StackWindow gives this image as a hyperstack ("czt" subset).

    One varying dimension that is not channels is a plain stack: one slider, as Fiji shows
    a z-stack or a time series.
    """
    dims = [int(v) for v in list(imp.getDimensions())[2:]]
    varying = "".join(a for a, n in zip("czt", dims) if n > 1)
    return "z" if len(varying) == 1 and varying != "c" else varying


def shown_scrollbars(win: Any) -> str:
    """Which selectors the window has ("czt" subset; a plain stack's slider counts as z)."""
    if win is None or not _is_stack_window(win):
        return ""
    return "".join(a for a, name in SELECTORS.items() if _field(win, name) is not None)


def grow_in_place(imp: Any, dims: tuple[int, int, int]) -> bool:
    """Stretch an open hyperstack window's scrollbars to ``dims`` before the stack grows.

    When the image keeps the same scrollbars (only their ranges grow: another frame of a
    plate, another slice), ImageJ's ``setStack`` would still build a new StackWindow (a new
    native window each time, flickering, about 40 ms). With the window's own counts and
    scrollbar maxima set first, ``setStack`` finds the window valid and just repaints it.
    Returns False (nothing touched) when the scrollbars themselves must change.
    """
    win = imp.getWindow()
    if win is None or not _is_stack_window(win) or not bool(win.isHyperStack()):
        return False
    varying = "".join(a for a, n in zip("czt", dims) if n > 1)
    wanted = "z" if len(varying) == 1 and varying != "c" else varying
    if len(varying) < 2 or wanted != shown_scrollbars(win):
        return False
    for axis, count, name in zip("czt", dims, ("nChannels", "nSlices", "nFrames")):
        _set_field(win, name, count)
        selector = _field(win, SELECTORS[axis])
        if selector is not None and selector.getMaximum() != count + 1:
            selector.setMaximum(count + 1)
            block = max(1, count // 10) if axis != "c" else 1
            selector.setBlockIncrement(block)
    return True


def ensure_hyperstack_window(ij: ImageJ, imp: Any) -> bool:
    """Rebuild the window in place if its scrollbars do not match the image; True if rebuilt."""
    win = imp.getWindow()
    if win is None:
        return False
    wanted = expected_scrollbars(imp)
    ok = shown_scrollbars(win) == wanted and (not wanted or bool(win.validDimensions()))
    if ok:
        return False
    log.debug(
        "window %s shows %r, needs %r: rebuilt", imp.getTitle(), shown_scrollbars(win), wanted
    )
    imp.setOpenAsHyperStack(True)
    stack_window = ij.jpype.JClass("ij.gui.StackWindow")
    image_window = ij.jpype.JClass("ij.gui.ImageWindow")
    (stack_window if imp.getStackSize() > 1 else image_window)(imp, imp.getCanvas())
    return True


def show_blended_once(imp: Any) -> None:
    """``imp.show()`` that blends a composite's channels once, not twice.

    ``ImagePlus.show`` blends the channels for the new window (``getImage``), then the
    ``StackWindow`` constructor calls ``imp.setSlice`` with the slice already shown, which
    ImageJ answers with ``updateAndRepaintWindow``: the same four 2048² channels blended and
    painted again (JFR, ImageJ 1.53t: a third of a plate's first window, ~0.1 s of CPU). With
    the image's ``noUpdateMode`` set for the call, that ``setSlice`` is a no-op (the flag is
    read only by ``setSlice`` and ``setPosition``); the window paints what ``show`` blended.
    """
    field = declared_field(imp, "noUpdateMode")
    if field is None:  # another ImageJ: show it as ImageJ does
        imp.show()
        return
    field.setBoolean(imp, True)
    try:
        imp.show()
    finally:
        field.setBoolean(imp, False)


def is_closed(imp: Any) -> bool:
    """True if the image had a window and the user closed it (or quit the ImageJ bar)."""
    win = imp.getWindow()
    return win is None or bool(win.isClosed()) or not bool(win.isShowing())


def window_geometry(ij: ImageJ, imp: Any) -> dict[str, Any]:
    """Where the window and its parts are on screen, and what its selectors show."""
    win = imp.getWindow()
    if win is None:
        return {"open": False}
    out: dict[str, Any] = {
        "open": not is_closed(imp),
        "class": str(win.getClass().getSimpleName()),
        "id": int(ij.jpype.JClass("java.lang.System").identityHashCode(win)),  # same window?
        "frame_title": str(win.getTitle()),
        "bounds": _bounds(win),
        "hyperstack": bool(win.isHyperStack()) if _is_stack_window(win) else False,
        "n_scrollbars": int(win.getNScrollbars()) if _is_stack_window(win) else 0,
        "scrollbars": {},
    }
    canvas = win.getCanvas()
    if canvas is not None and canvas.isShowing():
        out["canvas"] = _bounds(canvas)
        out["magnification"] = float(canvas.getMagnification())
    if _is_stack_window(win):
        for axis, name in SELECTORS.items():
            selector = _field(win, name)
            if selector is None:
                continue
            bar = _field(selector, "bar")
            out["scrollbars"][axis] = {
                "value": int(selector.getValue()),
                "maximum": int(selector.getMaximum()) - 1,  # ImageJ's max is n + 1
                "bounds": _bounds(bar if bar is not None else selector),
            }
    return out


def _is_stack_window(win: Any) -> bool:
    return str(win.getClass().getName()) in ("ij.gui.StackWindow",) or hasattr(
        win, "getNScrollbars"
    )


def _bounds(component: Any) -> list[int]:
    """[x, y, width, height] on screen, or [] if not showing."""
    if not component.isShowing():
        return []
    loc = component.getLocationOnScreen()
    size = component.getSize()
    return [int(loc.x), int(loc.y), int(size.width), int(size.height)]


_FIELDS: dict[tuple[type, str], Any] = {}


def declared_field(obj: Any, name: str) -> Any:
    """The Java field ``name`` of ``obj``'s class or a superclass, made accessible; or None.

    ImageJ keeps the hyperstack selectors and counts in protected/package fields of its AWT
    windows, so they are reached by reflection up the class chain (looked up once per class:
    a plate grows its window for every new frame).
    """
    key = (type(obj), name)  # JPype has one Python class per Java class: no call into Java
    if key in _FIELDS:
        return _FIELDS[key]
    cls, found = obj.getClass(), None
    while cls is not None:
        try:
            found = cls.getDeclaredField(name)
        except Exception:  # NoSuchFieldException: look in the superclass
            cls = cls.getSuperclass()
            continue
        found.setAccessible(True)
        break
    _FIELDS[key] = found
    return found


def _set_field(obj: Any, name: str, value: int) -> None:
    """Set a package-private int field of an ImageJ AWT object."""
    field = declared_field(obj, name)
    if field is None:
        raise AttributeError(f"{obj.getClass().getName()} has no field {name}")
    field.setInt(obj, value)


def _field(obj: Any, name: str) -> Any:
    """A protected/package field's value of an ImageJ AWT object, or None if it has none."""
    field = declared_field(obj, name)
    return None if field is None else field.get(obj)


def user_interface(ij: ImageJ) -> dict[str, Any]:
    """The ImageJ bar (menus, bounds) and every AWT window showing (B&C, Channels, ROI...)."""
    bar = ij.IJ.getInstance()
    out: dict[str, Any] = {"imagej_bar": None, "frames": []}
    if bar is not None and bar.isShowing():
        menubar = bar.getMenuBar()
        menus = [str(menubar.getMenu(i).getLabel()) for i in range(menubar.getMenuCount())]
        out["imagej_bar"] = {"bounds": _bounds(bar), "menus": menus}
    manager = ij.RoiManager.getInstance()
    if manager is not None:
        out["roi_manager"] = {
            "showing": bool(manager.isShowing()),
            "count": int(manager.getCount()),
            "listed": int(_field(manager, "list").getModel().getSize()),  # the Swing list
        }
    window_class = ij.jpype.JClass("java.awt.Window")
    for window in window_class.getWindows():
        if window.isShowing():
            title = str(window.getTitle()) if hasattr(window, "getTitle") else ""
            frame = {"title": title, "bounds": _bounds(window), "scrollbars": [], "buttons": []}
            _controls(window, frame)
            out["frames"].append(frame)
    return out


def _controls(container: Any, frame: dict[str, Any]) -> None:
    """Scrollbars and buttons of a dialog (B&C, Channels...), in layout order, with bounds."""
    for component in container.getComponents():
        name = str(component.getClass().getName())
        if name == "java.awt.Scrollbar" and component.isShowing():
            frame["scrollbars"].append(
                {"bounds": _bounds(component), "value": int(component.getValue())}
            )
        elif name in ("java.awt.Button", "ij.gui.TrimmedButton") and component.isShowing():
            frame["buttons"].append(
                {"label": str(component.getLabel()), "bounds": _bounds(component)}
            )
        if hasattr(component, "getComponents"):
            _controls(component, frame)


#: The line ImageJ's FileInfoVirtualStack logs for a plane file it cannot read.
READ_ERROR = "Read error or file not found"


def close_read_error_log(ij: ImageJ) -> bool:
    """Close the Log window if all it says is that a plane file could not be read.

    ``viewers.fiji.virtual`` points every slice at a readable file, but a hub segment can
    vanish between that check and ImageJ's read (the user scrolling onto a plane the hub
    has just evicted); ImageJ then shows a blank plane and opens its Log. That line is ours,
    not the user's: the window goes again. A Log with anything else in it stays.
    """
    text = ij.IJ.getLog()
    if text is None:
        return False
    lines = [line for line in str(text).splitlines() if line.strip()]
    if not lines or not all(line.startswith(READ_ERROR) for line in lines):
        return False
    log.info("ImageJ could not read %d plane file(s) (evicted just then): Log closed", len(lines))
    ij.IJ.log("\\Close")
    return True


def dispose_all(ij: ImageJ) -> None:
    """Close every AWT window of this process, so the JVM can end with it.

    ImageJ's tools close through their own ``close`` (Brightness/Contrast ends its
    "ContrastAdjuster" thread there, which is not a daemon: left running, it kept the JVM
    and the viewer process alive until the hub killed it); other windows are disposed.
    """
    tools = tuple(
        ij.jpype.JClass(f"ij.plugin.frame.{name}") for name in ("PlugInFrame", "PlugInDialog")
    )
    for window in ij.jpype.JClass("java.awt.Window").getWindows():
        try:
            if isinstance(window, tools):
                window.close()
            window.dispose()
        except Exception as exc:  # a window that will not close must not stop the others
            log.debug("window %s did not close: %s", window, exc)


def follow_well(imp: Any, title: str, names: Any, keys: Any) -> None:
    """Name the well the t scrollbar is on in a plate window's title (``viewerhub: B03``).

    Wells on the frame axis are browsed with the t scrollbar; the title follows it so the
    user always reads which well is shown, as in the slice label. ``names`` and ``keys`` are
    the layout's component names and values per axis.
    """
    if imp.getWindow() is None:
        return
    axis_names = names.get("t", ())
    frames = keys.get("t", [])
    t = int(imp.getT()) - 1
    if "well" not in axis_names or t >= len(frames):
        return
    wanted = f"{title}: {frames[t][axis_names.index('well')]}"
    if str(imp.getTitle()) != wanted:
        imp.setTitle(wanted)
