"""LLaVA-NeXT "anyres" inputs: one image is a base view plus high-resolution tiles, their number set by
the image's aspect ratio, so items of a batch differ in shape.

`AnyresImage` is what LlavaNextImageProcessor gives for one image; `collate_anyres` puts the views of
every image of a batch into one tower batch (as `LlavaNextModel.get_image_features` does);
`pack_tokens` lays out one image's tokens as `LlavaNextModel.pack_image_features` does: base view
first, then the tile grid unpadded back to the image's aspect ratio, row by row, each row followed by
the image_newline embedding (transformers' `get_anyres_image_grid_shape` and `unpad_image` are used).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers.models.llava_next.modeling_llava_next import get_anyres_image_grid_shape, unpad_image


@dataclass(frozen=True)
class AnyresImage:
    """One preprocessed image: pixel_values [views, 3, tile, tile] (base view first), image_size (height, width)."""

    pixel_values: torch.Tensor
    image_size: tuple[int, int]


@dataclass(frozen=True)
class AnyresBatch:
    """The views of a batch of AnyresImages in one tower batch, with what is needed to split them back."""

    pixel_values: torch.Tensor  # every view of every image, [sum of views, 3, tile, tile]
    image_sizes: tuple[tuple[int, int], ...]
    views: tuple[int, ...]  # views per image

    @property
    def base_views(self) -> torch.Tensor:
        """[images, 3, tile, tile]: the whole image resized to one tile, first view of each image."""
        starts = torch.tensor((0, *self.views[:-1])).cumsum(0)
        return self.pixel_values[starts.to(self.pixel_values.device)]

    def per_image(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Split a per-view tensor [sum of views, ...] into one [views, ...] per image."""
        return torch.split(tokens, list(self.views), dim=0)


def collate_anyres(items: Sequence[AnyresImage], device: torch.device) -> AnyresBatch:
    """`items` -> one AnyresBatch on `device`: views concatenated in item order ([sum of views, 3, tile, tile])."""
    return AnyresBatch(torch.cat([item.pixel_values for item in items]).to(device, non_blocking=True),
                       tuple(item.image_size for item in items), tuple(len(item.pixel_values) for item in items))


def pack_tokens(view_tokens: torch.Tensor, image_size: tuple[int, int], grid_pinpoints: Sequence[Sequence[int]],
                tile_size: int, newline: torch.Tensor | None) -> torch.Tensor:
    """[views, side², C] tokens of one image -> [T, C], the sequence the language model receives.

    Raises ValueError when the number of views does not fit the grid chosen for image_size.
    """
    base, tiles = view_tokens[0], view_tokens[1:]
    if not len(tiles):
        return base if newline is None else torch.cat((base, newline[None].to(base)), dim=0)
    side = int(base.shape[0] ** 0.5)
    rows, columns = get_anyres_image_grid_shape(list(image_size), [list(p) for p in grid_pinpoints], tile_size)
    if rows * columns != len(tiles):
        raise ValueError(f"{len(tiles)} tiles for an image of {image_size}, the grid has {rows}x{columns}")
    grid = tiles.view(rows, columns, side, side, -1).permute(4, 0, 2, 1, 3).flatten(1, 2).flatten(2, 3)
    grid = unpad_image(grid, list(image_size))  # [C, height, width] of tokens
    if newline is not None:
        grid = torch.cat((grid, newline[:, None, None].expand(*grid.shape[:-1], 1).to(grid)), dim=-1)
    return torch.cat((base, grid.flatten(1, 2).transpose(0, 1)), dim=0)
