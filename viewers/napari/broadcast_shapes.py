"""Shape sets that leave out some sliders: drawn on every position of the sliders they omit.

ImageJ reads a missing component as "all positions" (an ROI without a z is drawn on every
slice), and so does Fiji here; napari draws the same way through this module. A shape set
tagged ``channel=1`` only, in a group whose sliders are well and z_index, belongs over every
well and every z of channel 1.

The idiomatic napari form is a layer with fewer dims: napari aligns a layer's axes with the
viewer's trailing axes and shows it on every step of the leading ones it lacks, including
steps that arrive later. So when the omitted sliders are leading ones (the common case: a
producer that gives only the channel, or omits the well), the shapes go to a companion layer
(``channel=1 on every well/z_index shapes``) holding only the sliders they do give. A gap in
the middle (well and z given, site omitted) cannot be expressed by trailing alignment; those
shapes are copied onto every step the omitted sliders have, and onto steps added later.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract.shapes import Shape
from viewers.napari.shape_layers import draw_shapes

if TYPE_CHECKING:
    from viewers.napari.groups import LayerGroup

#: A slider position, or None for "every position of this slider".
PartialPosition = tuple[int | None, ...]


def covering_axes(groups: Iterable[LayerGroup], axes: Iterable[str]) -> tuple[str, ...]:
    """The sliders a new shapes-only group should have so that it lines up with the images.

    A shape set whose layer components name no existing group (``well`` + ``z_index`` but no
    channel, when channels are layers) starts a group of its own; given only its own axes,
    its layer would align with the wrong sliders of images that have more. It takes the
    axes of the first group that has all of its own, and is broadcast over the rest.
    """
    wanted = tuple(axes)
    for group in groups:
        if set(wanted) <= set(group.stack_axes):
            return group.stack_axes
    return wanted


def draw_anywhere(
    viewer: Any, group: LayerGroup, position: PartialPosition, shapes: list[Shape]
) -> None:
    """Draw ``shapes`` at ``position``, on every step of each slider it leaves as None."""
    if None not in position:
        draw_shapes(viewer, group, tuple(p for p in position if p is not None), shapes)
        return
    given = [i for i, p in enumerate(position) if p is not None]
    lead = given[0] if given else len(position)  # the leading sliders left out
    rest = position[lead:]
    if None not in rest:
        companion = _companion(group, lead)
        draw_shapes(viewer, companion, tuple(p for p in rest if p is not None), shapes)
        return
    copies = Copies(position, shapes)
    group.copies.append(copies)
    copies.fill(viewer, group)


@dataclass
class Copies:
    """A shape set copied onto every step of the sliders it leaves out, as those grow."""

    position: PartialPosition
    shapes: list[Shape]
    sizes: tuple[int, ...] = ()  # slider sizes when last filled: nothing new, nothing to do
    drawn: set[tuple[int, ...]] = field(default_factory=set)

    def fill(self, viewer: Any, group: LayerGroup) -> None:
        """Draw the set on every step it is not on yet (steps that arrived since last time)."""
        sizes = tuple(group.index.size(axis) for axis in group.stack_axes)
        if sizes == self.sizes:
            return
        self.sizes = sizes
        steps = [range(max(1, n)) if p is None else (p,) for n, p in zip(sizes, self.position)]
        for full in itertools.product(*steps):
            if full not in self.drawn:
                self.drawn.add(full)
                draw_shapes(viewer, group, full, self.shapes)


def extend_copies(viewer: Any, groups: Iterable[LayerGroup]) -> None:
    """Copy shape sets onto slider steps that images added after the sets arrived."""
    for group in groups:
        for copies in group.copies:
            copies.fill(viewer, group)


def _companion(group: LayerGroup, lead: int) -> LayerGroup:
    """The group's layers without its first ``lead`` sliders (shown on all their steps)."""
    companion = group.broadcasts.get(lead)
    if companion is None:
        every = "/".join(group.stack_axes[:lead])
        companion = type(group)(
            f"{group.name} on every {every}",
            group.stack_axes[lead:],
            group.index,
            well=group.well,
            channel=group.channel,
            image=group.image,  # masks take their plane size from it
        )
        group.broadcasts[lead] = companion
    return companion
