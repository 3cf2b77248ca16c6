using System;
using System.Text;
using HfWorker.MessagePack;

namespace HfWorker.Protocol
{
    /// <summary>
    /// Encodes the two messages a host sends: requests and notifications. Members are written in the
    /// order the worker's own encoder uses (jsonrpc, id, method, params), so a request encoded here is
    /// byte for byte what the worker would encode.
    /// </summary>
    internal static class OutgoingMessages
    {
        public const string CancelMethod = "$/cancelRequest";
        public const string ProgressMethod = "$/progress";
        public const string ProgressTokenKey = "progressToken";

        /// <summary>A request: <c>{"jsonrpc":"2.0","id":id,"method":method,"params":...}</c>; params omitted when null.</summary>
        public static void WriteRequest(MessagePackWriter writer, long id, string method, object parameters, long? progressToken)
        {
            bool hasParams = parameters != null || progressToken.HasValue;
            writer.WriteMapHeader(hasParams ? 4 : 3);
            writer.WriteString(JsonRpcKeys.JsonRpc);
            writer.WriteString(JsonRpcKeys.Version);
            writer.WriteString(JsonRpcKeys.Id);
            writer.WriteInt64(id);
            writer.WriteString(JsonRpcKeys.Method);
            writer.WriteString(method);
            if (!hasParams) return;
            writer.WriteString(JsonRpcKeys.Params);
            if (progressToken.HasValue) WriteParamsWithToken(writer, parameters, progressToken.Value);
            else WriteParams(writer, parameters);
        }

        /// <summary>A notification: <c>{"jsonrpc":"2.0","method":method,"params":...}</c>; params omitted when null.</summary>
        public static void WriteNotification(MessagePackWriter writer, string method, object parameters)
        {
            writer.WriteMapHeader(parameters == null ? 2 : 3);
            writer.WriteString(JsonRpcKeys.JsonRpc);
            writer.WriteString(JsonRpcKeys.Version);
            writer.WriteString(JsonRpcKeys.Method);
            writer.WriteString(method);
            if (parameters == null) return;
            writer.WriteString(JsonRpcKeys.Params);
            WriteParams(writer, parameters);
        }

        /// <summary><c>$/cancelRequest {"id": id}</c>.</summary>
        public static void WriteCancel(MessagePackWriter writer, long id)
        {
            writer.WriteMapHeader(3);
            writer.WriteString(JsonRpcKeys.JsonRpc);
            writer.WriteString(JsonRpcKeys.Version);
            writer.WriteString(JsonRpcKeys.Method);
            writer.WriteString(CancelMethod);
            writer.WriteString(JsonRpcKeys.Params);
            writer.WriteMapHeader(1);
            writer.WriteString(JsonRpcKeys.Id);
            writer.WriteInt64(id);
        }

        private static void WriteParams(MessagePackWriter writer, object parameters)
        {
            int start = writer.Length;
            writer.WriteValue(parameters);
            var written = writer.WrittenBytes;
            byte first = written.Array[written.Offset + start];
            bool isMap = (first >= 0x80 && first <= 0x8f) || first == 0xde || first == 0xdf;
            bool isArray = (first >= 0x90 && first <= 0x9f) || first == 0xdc || first == 0xdd;
            if (!isMap && !isArray)
            {
                throw new ArgumentException("params must be a map (a dictionary or an IMessagePackWritable writing a map), not a "
                    + new MessagePackReader(written.Array, written.Offset + start, written.Count - start).NextType.ToString().ToLowerInvariant(), "parameters");
            }
        }

        /// <summary>
        /// The params map with <c>progressToken</c> added as its last member. The params are encoded
        /// once into a scratch writer, then copied behind a header counting one more entry.
        /// </summary>
        private static void WriteParamsWithToken(MessagePackWriter writer, object parameters, long token)
        {
            int count = 0;
            ArraySegment<byte> entries = default(ArraySegment<byte>);
            if (parameters != null)
            {
                var scratch = new MessagePackWriter();
                scratch.WriteValue(parameters);
                var encoded = scratch.WrittenBytes;
                var reader = new MessagePackReader(encoded);
                if (reader.NextType != MessagePackType.Map)
                {
                    throw new ArgumentException("progress needs params given by name (a map), so that a progressToken can be added", "parameters");
                }
                count = reader.ReadMapHeader();
                entries = new ArraySegment<byte>(encoded.Array, reader.Position, encoded.Offset + encoded.Count - reader.Position);
            }
            writer.WriteMapHeader(count + 1);
            if (count > 0) writer.WriteRaw(entries);
            writer.WriteString(ProgressTokenKey);
            writer.WriteInt64(token);
        }
    }

    /// <summary>The member names of JSON-RPC 2.0, as strings to write and as UTF-8 bytes to compare while reading.</summary>
    internal static class JsonRpcKeys
    {
        public const string JsonRpc = "jsonrpc";
        public const string Version = "2.0";
        public const string Id = "id";
        public const string Method = "method";
        public const string Params = "params";
        public const string Result = "result";
        public const string Error = "error";
        public const string Code = "code";
        public const string Message = "message";
        public const string Data = "data";
        public const string Token = "token";
        public const string Value = "value";

        public static readonly byte[] JsonRpcUtf8 = Encoding.UTF8.GetBytes(JsonRpc);
        public static readonly byte[] VersionUtf8 = Encoding.UTF8.GetBytes(Version);
        public static readonly byte[] IdUtf8 = Encoding.UTF8.GetBytes(Id);
        public static readonly byte[] MethodUtf8 = Encoding.UTF8.GetBytes(Method);
        public static readonly byte[] ParamsUtf8 = Encoding.UTF8.GetBytes(Params);
        public static readonly byte[] ResultUtf8 = Encoding.UTF8.GetBytes(Result);
        public static readonly byte[] ErrorUtf8 = Encoding.UTF8.GetBytes(Error);
        public static readonly byte[] CodeUtf8 = Encoding.UTF8.GetBytes(Code);
        public static readonly byte[] MessageUtf8 = Encoding.UTF8.GetBytes(Message);
        public static readonly byte[] DataUtf8 = Encoding.UTF8.GetBytes(Data);
        public static readonly byte[] TokenUtf8 = Encoding.UTF8.GetBytes(Token);
        public static readonly byte[] ValueUtf8 = Encoding.UTF8.GetBytes(Value);

        public static bool Is(ArraySegment<byte> actual, byte[] expected)
        {
            if (actual.Count != expected.Length) return false;
            for (int i = 0; i < expected.Length; i++)
            {
                if (actual.Array[actual.Offset + i] != expected[i]) return false;
            }
            return true;
        }
    }
}
