namespace HfWorker.Protocol
{
    /// <summary>
    /// The JSON-RPC error codes the worker answers with (worker/errors.py). A code the worker adds
    /// later still arrives intact in <see cref="Exceptions.WorkerRpcException.Code"/>.
    /// </summary>
    public enum RpcErrorCode
    {
        /// <summary>Not one of the codes below.</summary>
        Unknown = 0,
        /// <summary>-32700: the frame was not valid MessagePack or JSON.</summary>
        ParseError = -32700,
        /// <summary>-32600: valid data, but not a JSON-RPC 2.0 request.</summary>
        InvalidRequest = -32600,
        /// <summary>-32601: no such method (test/* need --enable-test-methods).</summary>
        MethodNotFound = -32601,
        /// <summary>-32602: params do not match the method's schema (unknown members are refused too).</summary>
        InvalidParams = -32602,
        /// <summary>-32603: a bug in the worker.</summary>
        InternalError = -32603,
        /// <summary>-32800: the request was cancelled with $/cancelRequest.</summary>
        RequestCancelled = -32800,
        /// <summary>-32000: an application error raised by handler code (data.type names the Python exception).</summary>
        WorkerError = -32000,
        /// <summary>-32001: more requests in flight than the worker's --max-inflight.</summary>
        Overloaded = -32001,
        /// <summary>-32002: a frame or result over --max-frame-bytes.</summary>
        FrameTooLarge = -32002,
        /// <summary>-32003: worker/shutdown is under way; no new requests.</summary>
        ShuttingDown = -32003,
        /// <summary>-32004: a model or tensor handle that does not exist (or was freed).</summary>
        UnknownHandle = -32004,
        /// <summary>-32005: a model id or folder that cannot be found or fetched.</summary>
        ModelNotFound = -32005,
        /// <summary>-32006: inputs that cannot be decoded (corrupt audio, image, tensor bytes).</summary>
        InvalidInput = -32006,
        /// <summary>-32007: refused by the worker's start-up policy (trust_remote_code).</summary>
        Forbidden = -32007,
        /// <summary>-32008: out of memory while loading or running.</summary>
        ResourceExhausted = -32008,
        /// <summary>-32009: a task this model or this worker cannot run.</summary>
        UnsupportedTask = -32009,
    }
}
