using System;
using System.Collections.Generic;
using HfWorker.Protocol;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// The worker answered a call with a JSON-RPC error: bad params, an unknown handle, a model that
    /// cannot be found, an exception in handler code... The worker keeps serving.
    /// </summary>
    public sealed class WorkerRpcException : HfWorkerException
    {
        /// <summary>An error response.</summary>
        public WorkerRpcException(string method, int code, string remoteMessage, object data)
            : base(Compose(method, code, remoteMessage, data))
        {
            Method = method;
            Code = code;
            RemoteMessage = remoteMessage;
            ErrorData = data;
        }

        /// <summary>The method called.</summary>
        public string Method { get; private set; }

        /// <summary>The JSON-RPC error code as sent.</summary>
        public int Code { get; private set; }

        /// <summary>The code as a known <see cref="RpcErrorCode"/>, or <see cref="RpcErrorCode.Unknown"/>.</summary>
        public RpcErrorCode ErrorCode
        {
            get { return Enum.IsDefined(typeof(RpcErrorCode), Code) ? (RpcErrorCode)Code : RpcErrorCode.Unknown; }
        }

        /// <summary>The error's message as the worker wrote it.</summary>
        public string RemoteMessage { get; private set; }

        /// <summary>The error's <c>data</c> member as plain .NET values (usually a dictionary), or null.</summary>
        public object ErrorData { get; private set; }

        /// <summary>The exception type the worker reported in <c>data.type</c> (e.g. "ValueError", "UnknownHandle").</summary>
        public string RemoteType
        {
            get { return DataString("type"); }
        }

        /// <summary>The worker's traceback (<c>data.traceback</c>), present when it runs with <c>--debug</c>.</summary>
        public string RemoteTraceback
        {
            get { return DataString("traceback"); }
        }

        private string DataString(string key)
        {
            var map = ErrorData as IDictionary<string, object>;
            object value;
            return map != null && map.TryGetValue(key, out value) ? value as string : null;
        }

        private static string Compose(string method, int code, string remoteMessage, object data)
        {
            var map = data as IDictionary<string, object>;
            object type;
            string typeName = map != null && map.TryGetValue("type", out type) ? type as string : null;
            string known = Enum.IsDefined(typeof(RpcErrorCode), code) ? " " + (RpcErrorCode)code : "";
            string remote = typeName != null && typeName != known.Trim() ? " (" + typeName + ")" : "";
            return method + " failed: [" + code + known + "]" + remote + " " + remoteMessage;
        }
    }
}
