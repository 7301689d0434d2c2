"""Volume options of an embed call (README "Volumes"): which slices of a volume item are embedded,
along which axis, through which window. The server checks the values; the client only the names."""

from __future__ import annotations

from collections.abc import Mapping

from medembed_proto.v1 import encoder_pb2 as pb

VOLUME_FIELDS = ("slices", "axis", "window")


def volume_message(volume: Mapping[str, str] | None) -> pb.VolumeOptions | None:
    """The request's `VolumeOptions` from {"slices": ..., "axis": ..., "window": ...} (any subset;
    see the proto for the values), None for None or an empty mapping (no volume options: a volume's
    middle slice, the file's own window, results without slice indices).

    Raises ValueError naming an unknown field, TypeError for a value that is not a string.
    """
    if not volume:
        return None
    unknown = sorted(set(volume) - set(VOLUME_FIELDS))
    if unknown:
        raise ValueError(f"volume options {unknown} are unknown; use {list(VOLUME_FIELDS)}")
    for name, value in volume.items():
        if not isinstance(value, str):
            raise TypeError(f"volume option {name!r} must be a string, got {type(value).__name__}")
    return pb.VolumeOptions(**dict(volume))
