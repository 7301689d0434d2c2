"""S² multiscale features (Shi et al., "When Do We Not Need Larger Vision Models?", 2024).

Follows `s2wrapper.forward` of github.com/bfshi/scaling_on_scales (s2wrapper/core.py, utils.py
`split_chessboard` / `merge_chessboard`) as MedTrinity-25M's `CLIPVisionTowerS2.forward` calls it:
`forward(feature_fn, images, img_sizes=s2_scales, max_split_size=s2_scales[0])`, no prefix tokens,
output 'bnc'. s2wrapper is not on PyPI (MedTrinity installs it from git), so it is written out here;
it was checked against that function run locally.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

TokenFn = Callable[[torch.Tensor], torch.Tensor]  # [B, 3, s, s] -> [B, s'*s' tokens, C]


def split_chessboard(images: torch.Tensor, splits: int) -> torch.Tensor:
    """[B, C, H, W] -> [splits² * B, C, H/splits, W/splits]; tile (row i, column j) of image b is at
    index (i * splits + j) * B + b."""
    batch, channels, height, width = images.shape
    tiles = images.reshape(batch, channels, splits, height // splits, splits, width // splits)
    return tiles.permute(2, 4, 0, 1, 3, 5).reshape(splits * splits * batch, channels, height // splits, width // splits)


def merge_chessboard(tiles: torch.Tensor, splits: int) -> torch.Tensor:
    """The inverse of split_chessboard: [splits² * B, C, h, w] -> [B, C, splits*h, splits*w]."""
    count, channels, height, width = tiles.shape
    batch = count // (splits * splits)
    grid = tiles.reshape(splits, splits, batch, channels, height, width)
    return grid.permute(2, 3, 0, 4, 1, 5).reshape(batch, channels, splits * height, splits * width)


def multiscale_forward(token_fn: TokenFn, images: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
    """[B, 3, S, S] -> [B, N, C * len(scales)]: per scale, the image resized (bicubic) and cut into tiles
    of the smallest scale, each tile's tokens put back in place, every scale's map area-resized to the
    smallest scale's grid, concatenated along channels (smallest scale first)."""
    split_size = scales[0]
    maps = []
    for size in scales:
        splits = math.ceil(size / split_size)
        resized = F.interpolate(images.to(torch.float32), size=size, mode="bicubic").to(images.dtype)
        tokens = token_fn(split_chessboard(resized, splits))  # [splits² * B, side², C]
        side = int(tokens.shape[1] ** 0.5)
        token_map = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)
        maps.append(merge_chessboard(token_map, splits))
    grid = maps[0].shape[-2]
    merged = torch.cat([F.interpolate(m.to(torch.float32), size=grid, mode="area").to(m.dtype) for m in maps], dim=1)
    return merged.flatten(2).transpose(1, 2)
