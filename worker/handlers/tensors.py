"""Tensor methods: tensor/put, tensor/get, tensor/free, tensor/list, tensor/search.

Tensors cross the wire as raw little-endian C-order bytes (MessagePack bin, base64 in JSON) plus a
wire dtype name and a shape; in the worker they live in the TensorStore under opaque handles. The
bytes path is copy-free in the worker: a put keeps a read-only view of the decoded params, a get
hands the stored memory to the encoder. Search runs where the embeddings are, so only
``[{index, score}]`` comes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from worker.errors import FrameTooLarge, InvalidInput, InvalidParams
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers
from worker.tensors.types import Metric, SearchHit, TensorInfo

if TYPE_CHECKING:
    from worker.tensors.store import TensorStore

handlers = Handlers()


def _store(ctx: RequestContext) -> TensorStore:
    # Imported here: numpy loads with the first tensor method, not at start-up.
    from worker.tensors.store import TensorStore

    return ctx.state.service(TensorStore)


# ---- tensor/put -------------------------------------------------------------------------------


class PutParams(Params):
    # A memoryview: MessagePack bin decodes without a copy (base64 in JSON is decoded once).
    data: memoryview
    dtype: str
    shape: list[int]


@handlers.method("tensor/put")
def put(params: PutParams, ctx: RequestContext) -> TensorInfo:
    """Keep raw little-endian C-order bytes as a tensor; answer its handle (-32008 past the budget)."""
    return _store(ctx).put_bytes(params.data, params.dtype, params.shape)


# ---- tensor/get -------------------------------------------------------------------------------


class GetParams(Params):
    handle: str


class GetResult(msgspec.Struct):
    data: memoryview
    dtype: str
    shape: list[int]


@handlers.method("tensor/get")
def get(params: GetParams, ctx: RequestContext) -> GetResult:
    """A kept tensor's bytes, exactly as they were put (bfloat16 included)."""
    stored = _store(ctx).get(params.handle)
    # The stored array is read-only and C-contiguous: its memory goes to the encoder as it is.
    raw = stored.array.reshape(-1).view("u1").data
    return GetResult(data=raw, dtype=stored.info.dtype, shape=stored.info.shape)


# ---- tensor/free, tensor/list -----------------------------------------------------------------


class FreeParams(Params):
    handles: list[str]


class FreeResult(msgspec.Struct):
    freed: list[TensorInfo]
    freed_bytes: int
    total_bytes: int


@handlers.method("tensor/free")
def free(params: FreeParams, ctx: RequestContext) -> FreeResult:
    """Drop tensors (all or nothing: one unknown or freed handle frees none)."""
    store = _store(ctx)
    freed = store.free(params.handles)
    return FreeResult(freed, sum(t.nbytes for t in freed), store.total_bytes)


class ListParams(Params):
    pass


class ListResult(msgspec.Struct):
    tensors: list[TensorInfo]
    count: int
    total_bytes: int
    # --max-tensor-bytes: what total_bytes may reach.
    budget_bytes: int


@handlers.method("tensor/list")
def list_tensors(params: ListParams, ctx: RequestContext) -> ListResult:
    """Every kept tensor with its size, oldest first, the total and the budget."""
    store = _store(ctx)
    tensors = store.list()
    return ListResult(tensors, len(tensors), sum(t.nbytes for t in tensors), store.budget_bytes)


# ---- tensor/search ----------------------------------------------------------------------------


class TextQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Text to embed with a loaded embedding model (a model handle from model/load)."""

    text: str
    model: str


class SearchParams(Params):
    # A tensor handle, a vector, or text with a model handle.
    query: str | list[float] | TextQuery
    # A tensor handle of shape [n, d], or several searched as if concatenated along rows.
    corpus: str | list[str]
    top_k: Annotated[int, msgspec.Meta(ge=1)] = 10
    metric: Metric = "cosine"


@handlers.method("tensor/search")
def search_tensors(params: SearchParams, ctx: RequestContext) -> list[SearchHit]:
    """The top_k corpus rows nearest to the query, best first."""
    store = _store(ctx)
    handles = [params.corpus] if isinstance(params.corpus, str) else params.corpus
    if not handles:
        raise InvalidParams("corpus must name at least one tensor handle")
    corpus = [store.get_rows(h) for h in handles]
    from worker.tensors.search import MIN_HIT_BYTES, search

    # The result's size is known before searching: refuse one that could never be sent.
    hits = min(params.top_k, sum(part.shape[0] for part in corpus if part.ndim >= 1))
    limit = ctx.state.config.max_frame_bytes
    if hits * MIN_HIT_BYTES > limit:
        raise FrameTooLarge(
            f"{hits} results need at least {hits * MIN_HIT_BYTES} bytes, over the frame limit of "
            f"{limit} bytes (--max-frame-bytes); ask for a smaller top_k"
        )
    query = _query_vector(params.query, store, ctx)

    return search(
        query, corpus, top_k=params.top_k, metric=params.metric, check_cancelled=ctx.check_cancelled
    )


def _query_vector(query: str | list[float] | TextQuery, store: TensorStore, ctx: RequestContext) -> Any:
    match query:
        case str():
            return store.get_array(query)
        case list():
            if not query:
                raise InvalidInput("the query vector is empty")
            import numpy as np

            return np.asarray(query, dtype=np.float64)
        case TextQuery(text=text, model=model):
            return _embed_text(ctx, model, text)


def _embed_text(ctx: RequestContext, model: str, text: str) -> Any:
    from worker.models.embed import embed_texts  # imports torch and transformers

    return embed_texts(ctx.state, model, [text], ctx=ctx)
