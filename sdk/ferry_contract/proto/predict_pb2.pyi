from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DoubleValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Int64Values(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class StringValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class BoolValues(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, values: _Optional[_Iterable[bool]] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("doubles", "int64s", "strings", "bools", "null_rows")
    DOUBLES_FIELD_NUMBER: _ClassVar[int]
    INT64S_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    BOOLS_FIELD_NUMBER: _ClassVar[int]
    NULL_ROWS_FIELD_NUMBER: _ClassVar[int]
    doubles: DoubleValues
    int64s: Int64Values
    strings: StringValues
    bools: BoolValues
    null_rows: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, doubles: _Optional[_Union[DoubleValues, _Mapping]] = ..., int64s: _Optional[_Union[Int64Values, _Mapping]] = ..., strings: _Optional[_Union[StringValues, _Mapping]] = ..., bools: _Optional[_Union[BoolValues, _Mapping]] = ..., null_rows: _Optional[_Iterable[int]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("columns", "probabilities")
    class ColumnsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Column
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Column, _Mapping]] = ...) -> None: ...
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.MessageMap[str, Column]
    probabilities: bool
    def __init__(self, columns: _Optional[_Mapping[str, Column]] = ..., probabilities: _Optional[bool] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("predictions", "release_id", "model_name", "model_version", "feature_refs", "classes", "probabilities", "request_id")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_REFS_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    predictions: Column
    release_id: str
    model_name: str
    model_version: str
    feature_refs: _containers.RepeatedScalarFieldContainer[str]
    classes: Column
    probabilities: _containers.RepeatedCompositeFieldContainer[DoubleValues]
    request_id: str
    def __init__(self, predictions: _Optional[_Union[Column, _Mapping]] = ..., release_id: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., feature_refs: _Optional[_Iterable[str]] = ..., classes: _Optional[_Union[Column, _Mapping]] = ..., probabilities: _Optional[_Iterable[_Union[DoubleValues, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...
