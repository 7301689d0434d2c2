from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_ONLINE: _ClassVar[Priority]
    PRIORITY_BULK: _ClassVar[Priority]

class ItemCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_CODE_UNSPECIFIED: _ClassVar[ItemCode]
    ITEM_CODE_OK: _ClassVar[ItemCode]
    ITEM_CODE_DECODE_ERROR: _ClassVar[ItemCode]
    ITEM_CODE_UNSUPPORTED_FORMAT: _ClassVar[ItemCode]
    ITEM_CODE_TOO_LARGE: _ClassVar[ItemCode]
    ITEM_CODE_TOO_SMALL: _ClassVar[ItemCode]
    ITEM_CODE_TIMEOUT: _ClassVar[ItemCode]
    ITEM_CODE_INTERNAL: _ClassVar[ItemCode]
    ITEM_CODE_NOT_CACHED: _ClassVar[ItemCode]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_ONLINE: Priority
PRIORITY_BULK: Priority
ITEM_CODE_UNSPECIFIED: ItemCode
ITEM_CODE_OK: ItemCode
ITEM_CODE_DECODE_ERROR: ItemCode
ITEM_CODE_UNSUPPORTED_FORMAT: ItemCode
ITEM_CODE_TOO_LARGE: ItemCode
ITEM_CODE_TOO_SMALL: ItemCode
ITEM_CODE_TIMEOUT: ItemCode
ITEM_CODE_INTERNAL: ItemCode
ITEM_CODE_NOT_CACHED: ItemCode

class Item(_message.Message):
    __slots__ = ("data", "client_id", "content_sha256")
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    client_id: str
    content_sha256: str
    def __init__(self, data: _Optional[bytes] = ..., client_id: _Optional[str] = ..., content_sha256: _Optional[str] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("model", "items", "spec", "priority", "skip_cache", "request_id", "volume")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SKIP_CACHE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    model: str
    items: _containers.RepeatedCompositeFieldContainer[Item]
    spec: str
    priority: Priority
    skip_cache: bool
    request_id: str
    volume: VolumeOptions
    def __init__(self, model: _Optional[str] = ..., items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., spec: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., skip_cache: _Optional[bool] = ..., request_id: _Optional[str] = ..., volume: _Optional[_Union[VolumeOptions, _Mapping]] = ...) -> None: ...

class VolumeOptions(_message.Message):
    __slots__ = ("slices", "axis", "window")
    SLICES_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    slices: str
    axis: str
    window: str
    def __init__(self, slices: _Optional[str] = ..., axis: _Optional[str] = ..., window: _Optional[str] = ...) -> None: ...

class ItemStatus(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ItemCode
    message: str
    def __init__(self, code: _Optional[_Union[ItemCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("index", "client_id", "status", "vector", "cache_hit", "content_sha256", "slice_indices", "slice_count")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SLICE_INDICES_FIELD_NUMBER: _ClassVar[int]
    SLICE_COUNT_FIELD_NUMBER: _ClassVar[int]
    index: int
    client_id: str
    status: ItemStatus
    vector: bytes
    cache_hit: bool
    content_sha256: str
    slice_indices: _containers.RepeatedScalarFieldContainer[int]
    slice_count: int
    def __init__(self, index: _Optional[int] = ..., client_id: _Optional[str] = ..., status: _Optional[_Union[ItemStatus, _Mapping]] = ..., vector: _Optional[bytes] = ..., cache_hit: _Optional[bool] = ..., content_sha256: _Optional[str] = ..., slice_indices: _Optional[_Iterable[int]] = ..., slice_count: _Optional[int] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("model_id", "weights_digest", "preprocess_digest", "embedding_spec", "dtype", "server_version", "vector_identity", "random_weights", "volume")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_SPEC_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    weights_digest: str
    preprocess_digest: str
    embedding_spec: str
    dtype: str
    server_version: str
    vector_identity: str
    random_weights: bool
    volume: str
    def __init__(self, model_id: _Optional[str] = ..., weights_digest: _Optional[str] = ..., preprocess_digest: _Optional[str] = ..., embedding_spec: _Optional[str] = ..., dtype: _Optional[str] = ..., server_version: _Optional[str] = ..., vector_identity: _Optional[str] = ..., random_weights: _Optional[bool] = ..., volume: _Optional[str] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("model", "dim", "results", "provenance", "request_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    dim: int
    results: _containers.RepeatedCompositeFieldContainer[ItemResult]
    provenance: Provenance
    request_id: str
    def __init__(self, model: _Optional[str] = ..., dim: _Optional[int] = ..., results: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SpecInfo(_message.Message):
    __slots__ = ("name", "dim", "vector_identity")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    VECTOR_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    vector_identity: str
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., vector_identity: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "family", "dim", "input_size", "default_spec", "specs", "ready", "weights_digest", "preprocess_digest", "random_weights", "library_versions")
    class LibraryVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SPEC_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RANDOM_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    LIBRARY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    family: str
    dim: int
    input_size: int
    default_spec: str
    specs: _containers.RepeatedCompositeFieldContainer[SpecInfo]
    ready: bool
    weights_digest: str
    preprocess_digest: str
    random_weights: bool
    library_versions: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., family: _Optional[str] = ..., dim: _Optional[int] = ..., input_size: _Optional[int] = ..., default_spec: _Optional[str] = ..., specs: _Optional[_Iterable[_Union[SpecInfo, _Mapping]]] = ..., ready: _Optional[bool] = ..., weights_digest: _Optional[str] = ..., preprocess_digest: _Optional[str] = ..., random_weights: _Optional[bool] = ..., library_versions: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ServerLimits(_message.Message):
    __slots__ = ("max_items_per_request", "max_request_bytes", "max_image_bytes", "digest_lookup")
    MAX_ITEMS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DIGEST_LOOKUP_FIELD_NUMBER: _ClassVar[int]
    max_items_per_request: int
    max_request_bytes: int
    max_image_bytes: int
    digest_lookup: bool
    def __init__(self, max_items_per_request: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., max_image_bytes: _Optional[int] = ..., digest_lookup: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "server_version", "limits")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    server_version: str
    limits: ServerLimits
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., server_version: _Optional[str] = ..., limits: _Optional[_Union[ServerLimits, _Mapping]] = ...) -> None: ...
