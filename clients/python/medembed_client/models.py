"""What `list_models()` returns: the models a server hosts and the request caps it enforces, as
typed values read off the wire's `ListModelsResponse`."""

from __future__ import annotations

from dataclasses import dataclass, field

from medembed_proto.v1 import encoder_pb2 as pb


class UnknownSpec(LookupError):
    """A model asked for by an embedding spec it does not offer; the message names the model, the
    spec asked for and the specs it has."""


@dataclass(frozen=True)
class SpecInfo:
    """One embedding spec of a model: its name, its vector length `dim` (float32 values) and the
    `Provenance.vector_identity` its vectors carry."""

    name: str
    dim: int
    vector_identity: str = ""

    @classmethod
    def from_proto(cls, message: pb.SpecInfo) -> "SpecInfo":
        """The typed value of a received `SpecInfo` message."""
        return cls(name=message.name, dim=message.dim, vector_identity=message.vector_identity)


@dataclass(frozen=True)
class ModelInfo:
    """One model a server hosts.

    `dim` is the vector length of the default spec, `input_size` the square input side in
    pixels, `specs` every spec in the server's order. A model still loading has `ready` false and
    only its `id` filled in. `random_weights` is true when it is served without pretrained weights
    (its vectors come from an untrained network). `library_versions` maps each package that
    computes its vectors (python, torch, torchvision, the family's libraries, the decoders) to its
    version.
    """

    id: str
    family: str = ""
    dim: int = 0
    input_size: int = 0
    default_spec: str = ""
    specs: tuple[SpecInfo, ...] = ()
    ready: bool = False
    weights_digest: str = ""
    preprocess_digest: str = ""
    random_weights: bool = False
    library_versions: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_proto(cls, message: pb.ModelInfo) -> "ModelInfo":
        """The typed value of a received `ModelInfo` message."""
        return cls(id=message.id, family=message.family, dim=message.dim, input_size=message.input_size,
                   default_spec=message.default_spec, specs=tuple(SpecInfo.from_proto(s) for s in message.specs),
                   ready=message.ready, weights_digest=message.weights_digest,
                   preprocess_digest=message.preprocess_digest, random_weights=message.random_weights,
                   library_versions=dict(sorted(message.library_versions.items())))

    def spec(self, name: str = "") -> SpecInfo | None:
        """The spec called `name` (empty: the default spec), or None when the model has none by that name."""
        wanted = name or self.default_spec
        return next((spec for spec in self.specs if spec.name == wanted), None)

    def spec_info(self, name: str = "") -> SpecInfo:
        """The spec called `name`, the default spec when `name` is empty: the one place a client
        resolves the default, so that a caller can send the resolved name.

        Raises UnknownSpec naming the model and its specs when it has none by that name.
        """
        found = self.spec(name)
        if found is None:
            raise UnknownSpec(f"model {self.id!r} has no spec {name or self.default_spec!r}; "
                              f"specs: {[spec.name for spec in self.specs]}")
        return found


@dataclass(frozen=True)
class ServerLimits:
    """A server's request caps, which the client sizes its requests to; 0 means the server does not say.

    `max_items_per_request` counts items; `max_request_bytes` is the image bytes of one request and
    `max_image_bytes` those of one item. `digest_lookup`: the server answers items sent as their
    content sha256 alone from its cache (`not_cached` when absent).
    """

    max_items_per_request: int = 0
    max_request_bytes: int = 0
    max_image_bytes: int = 0
    digest_lookup: bool = False

    @classmethod
    def from_proto(cls, message: pb.ServerLimits) -> "ServerLimits":
        """The typed value of a received `ServerLimits` message."""
        return cls(max_items_per_request=message.max_items_per_request,
                   max_request_bytes=message.max_request_bytes, max_image_bytes=message.max_image_bytes,
                   digest_lookup=message.digest_lookup)
