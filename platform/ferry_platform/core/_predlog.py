"""The prediction log's layout, shared by its writer (serving, in the replicas) and its
reader (monitoring, in the monitoring job): plain constants and path helpers, no vendor
imports, so neither capability imports the other.

One row per answered input row (and one per refused request), in Parquet files under
``<root>/model=<model>/release=<release id>/hour=<YYYY-MM-DDTHH>/<file>.parquet``
(Hive-style partitions; the hour is UTC). ``<root>`` is ``FERRY_PREDICTION_LOG_URI``: a
local directory or ``s3://bucket/prefix``. Files are written whole (a temporary name, then
renamed; an S3 object is written at once), so a reader never sees half a file.
"""

from __future__ import annotations

from datetime import UTC, datetime

PREDLOG_FORMAT = 1
"""Version of the layout (in each file's metadata as ``ferry.predlog``)."""

# The envelope: the same columns in every file.
REQUEST_ID = "request_id"  # string: the request's id (x-ferry-request-id)
ROW = "row"  # int32: the row's index in its request
TS = "ts"  # timestamp[us, UTC]: when the answer was made
DEPLOYMENT = "deployment"  # string: the deployment name the request was sent to
MODEL = "model"  # string
VERSION = "version"  # int32
RELEASE_ID = "release_id"  # string
ARM = "arm"  # string: stable, canary, a, b, shadow
STATUS = "status"  # int16: the HTTP status of the answer (gRPC answers: its HTTP equivalent)
CODE = "code"  # string or null: the error code of a refused or failed request
LATENCY_MS = "latency_ms"  # float32: the release's time on the request (validation, lookup, model)
PREDICTION = "prediction"  # the answer: int64, float64, bool or string, as the model gives
PROBABILITIES = "probabilities"  # list<float64> or null: one per class (metadata: classes)
PROBLEMS = "problems"  # string or null: JSON [[column, reason], ...] of a refused request
LOOKUP_MISSES = "lookup_misses"  # list<string> or null: features the online store lacked

ENVELOPE = (REQUEST_ID, ROW, TS, DEPLOYMENT, MODEL, VERSION, RELEASE_ID, ARM, STATUS, CODE,
            LATENCY_MS, PREDICTION, PROBABILITIES, PROBLEMS, LOOKUP_MISSES)

INPUT_PREFIX = "in."
"""Each model input is a column ``in.<name>`` (the features Ferry joined included)."""

INPUT_TYPES = {"double": "float64", "float": "float64", "long": "int64", "integer": "int64",
               "boolean": "bool", "string": "string", "binary": "string",
               "datetime": "string"}
"""Arrow type of an input column, by the signature's type (others: JSON text)."""

CLASSES_METADATA = "ferry.classes"
"""File metadata key: JSON list of the classes ``probabilities`` follow."""

FORMAT_METADATA = "ferry.predlog"

HOUR_FORMAT = "%Y-%m-%dT%H"
SUFFIX = ".parquet"
TEMP_PREFIX = "."
"""Files being written start with a dot; readers skip them."""


def input_column(name: str) -> str:
    return INPUT_PREFIX + name


def hour_of(ts: float) -> str:
    """The hour partition (UTC) of an epoch time in seconds."""
    return datetime.fromtimestamp(ts, UTC).strftime(HOUR_FORMAT)


def hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=UTC)


def partition(model: str, release_id: str, hour: str) -> str:
    """The directory (relative to the root) of one release's rows of one hour."""
    return f"model={model}/release={release_id}/hour={hour}"


def join(root: str, *parts: str) -> str:
    """``root`` and path parts, for a local directory or a URI alike."""
    return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts]])
