"""StemeDB client: a database of claims resolved at read time by lenses.

Quick start::

    from stemedb import Client

    with Client("http://127.0.0.1:18180", agent="me") as db:
        w = db.assert_claim("drug:semaglutide", "side_effect", "nausea", confidence=0.9)
        answer = db.resolve("drug:semaglutide", "side_effect", "consensus")
        print(answer.value, answer.winners)
"""

from .aio import AsyncClient
from .canonical import canonical_bytes, record_id
from .client import Client
from .errors import (
    ApiError,
    BadRequestError,
    BatchError,
    ForbiddenError,
    IdMismatchError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    StemeDBError,
    TransportError,
    UnauthorizedError,
    ValidationError,
)
from .models import (
    BatchItem,
    BatchResult,
    Candidate,
    ClassResolution,
    ErrorDetail,
    ExplanationEntry,
    PairResult,
    QueryResult,
    RecordView,
    Resolution,
    StoredRecord,
    SubjectsPage,
    Trace,
    WriteResult,
)
from .records import (
    Assertion,
    Epoch,
    ObjectValue,
    Record,
    Retraction,
    Source,
    Trust,
    Vote,
    ref,
)
from .signing import SigningKey, now_ms, sign, verify
from .validate import validate
from .wire import parse_record

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Assertion",
    "AsyncClient",
    "BadRequestError",
    "BatchError",
    "BatchItem",
    "BatchResult",
    "Candidate",
    "ClassResolution",
    "Client",
    "Epoch",
    "ErrorDetail",
    "ExplanationEntry",
    "ForbiddenError",
    "IdMismatchError",
    "NotFoundError",
    "ObjectValue",
    "PairResult",
    "PayloadTooLargeError",
    "QueryResult",
    "RateLimitedError",
    "Record",
    "RecordView",
    "Resolution",
    "Retraction",
    "ServerError",
    "ServiceUnavailableError",
    "SigningKey",
    "Source",
    "StemeDBError",
    "StoredRecord",
    "SubjectsPage",
    "Trace",
    "TransportError",
    "Trust",
    "UnauthorizedError",
    "ValidationError",
    "Vote",
    "WriteResult",
    "__version__",
    "canonical_bytes",
    "now_ms",
    "parse_record",
    "record_id",
    "ref",
    "sign",
    "validate",
    "verify",
]
