using System;
using System.Collections.Generic;
using HfWorker.Exceptions;
using HfWorker.MessagePack;

namespace HfWorker.Protocol
{
    /// <summary>What a message from the worker is.</summary>
    internal enum IncomingKind
    {
        /// <summary>A success response: id and result.</summary>
        Result,
        /// <summary>An error response: id (possibly null) and error.</summary>
        Error,
        /// <summary>A notification: method and params, no id.</summary>
        Notification,
        /// <summary>A request from the worker (it makes none today): answered MethodNotFound.</summary>
        Request,
    }

    /// <summary>
    /// One message from the worker, classified, with its params or result left undecoded as a slice
    /// of the frame: the caller's own reader decodes it straight into its result type.
    /// </summary>
    internal sealed class IncomingMessage
    {
        public IncomingKind Kind;

        /// <summary>The id when it is an integer (the host only sends integer ids).</summary>
        public long? Id;

        /// <summary>The id as sent when it is not an integer (a string), for diagnostics.</summary>
        public object OtherId;

        public string Method;
        public ArraySegment<byte> Params;
        public ArraySegment<byte> Result;
        public int ErrorCode;
        public string ErrorMessage;
        public object ErrorData;

        /// <summary>
        /// The messages in a frame: one, or several for a batch. Throws <see cref="ProtocolException"/>
        /// for data that is not a JSON-RPC 2.0 message (a broken worker; the connection is dropped).
        /// </summary>
        public static List<IncomingMessage> ParseFrame(byte[] payload)
        {
            var reader = new MessagePackReader(payload);
            var messages = new List<IncomingMessage>(1);
            try
            {
                if (reader.NextType == MessagePackType.Array)
                {
                    int count = reader.ReadArrayHeader();
                    for (int i = 0; i < count; i++) messages.Add(Parse(reader));
                }
                else
                {
                    messages.Add(Parse(reader));
                }
                if (!reader.End) throw new ProtocolException("a frame holds " + (payload.Length - reader.Position) + " bytes after its message");
            }
            catch (MessagePackException e)
            {
                throw new ProtocolException("the worker sent a frame that is not a valid message: " + e.Message, e);
            }
            return messages;
        }

        private static IncomingMessage Parse(MessagePackReader reader)
        {
            if (reader.NextType != MessagePackType.Map)
            {
                throw new ProtocolException("a message must be a map, found " + reader.NextType.ToString().ToLowerInvariant());
            }
            var message = new IncomingMessage();
            int entries = reader.ReadMapHeader();
            bool versionOk = false, hasId = false, hasMethod = false, hasResult = false, hasError = false;
            for (int i = 0; i < entries; i++)
            {
                if (reader.NextType != MessagePackType.String)
                {
                    throw new ProtocolException("a message key must be a string, found " + reader.NextType.ToString().ToLowerInvariant());
                }
                var key = reader.ReadStringSegment();
                if (JsonRpcKeys.Is(key, JsonRpcKeys.JsonRpcUtf8))
                {
                    versionOk = reader.NextType == MessagePackType.String && JsonRpcKeys.Is(reader.ReadStringSegment(), JsonRpcKeys.VersionUtf8);
                    if (!versionOk) throw new ProtocolException("member \"jsonrpc\" must be \"2.0\"");
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.IdUtf8))
                {
                    hasId = true;
                    ReadId(reader, message);
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.MethodUtf8))
                {
                    hasMethod = true;
                    message.Method = reader.ReadString();
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.ParamsUtf8))
                {
                    message.Params = reader.ReadRaw();
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.ResultUtf8))
                {
                    hasResult = true;
                    message.Result = reader.ReadRaw();
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.ErrorUtf8))
                {
                    hasError = true;
                    ReadError(reader, message);
                }
                else
                {
                    reader.Skip(); // JSON-RPC allows no other members, but ignoring them costs nothing.
                }
            }
            if (!versionOk) throw new ProtocolException("a message without \"jsonrpc\": \"2.0\"");
            if (hasMethod)
            {
                if (message.Method == null) throw new ProtocolException("member \"method\" must be a string");
                message.Kind = hasId ? IncomingKind.Request : IncomingKind.Notification;
            }
            else if (hasResult == hasError)
            {
                throw new ProtocolException(hasResult
                    ? "a response with both \"result\" and \"error\""
                    : "a message with neither \"method\", \"result\" nor \"error\"");
            }
            else if (!hasId)
            {
                throw new ProtocolException("a response without \"id\"");
            }
            else
            {
                message.Kind = hasResult ? IncomingKind.Result : IncomingKind.Error;
            }
            return message;
        }

        private static void ReadId(MessagePackReader reader, IncomingMessage message)
        {
            switch (reader.NextType)
            {
                case MessagePackType.Integer:
                    message.Id = reader.ReadInt64();
                    break;
                case MessagePackType.Nil:
                    reader.ReadNil();
                    break;
                default:
                    message.OtherId = reader.ReadValue();
                    break;
            }
        }

        private static void ReadError(MessagePackReader reader, IncomingMessage message)
        {
            if (reader.NextType != MessagePackType.Map) throw new ProtocolException("member \"error\" must be a map");
            int entries = reader.ReadMapHeader();
            bool hasCode = false;
            for (int i = 0; i < entries; i++)
            {
                var key = reader.ReadStringSegment();
                if (JsonRpcKeys.Is(key, JsonRpcKeys.CodeUtf8))
                {
                    hasCode = true;
                    message.ErrorCode = reader.ReadInt32();
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.MessageUtf8))
                {
                    message.ErrorMessage = reader.ReadString();
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.DataUtf8))
                {
                    message.ErrorData = reader.ReadValue();
                }
                else
                {
                    reader.Skip();
                }
            }
            if (!hasCode) throw new ProtocolException("an error without \"code\"");
            if (message.ErrorMessage == null) message.ErrorMessage = "(no message)";
        }

        /// <summary>Read <c>$/progress</c> params: the token and the position of the value.</summary>
        public static bool TryReadProgress(ArraySegment<byte> parameters, out long token, out ArraySegment<byte> value)
        {
            token = 0;
            value = default(ArraySegment<byte>);
            if (parameters.Array == null || parameters.Count == 0) return false;
            var reader = new MessagePackReader(parameters);
            if (reader.NextType != MessagePackType.Map) return false;
            int entries = reader.ReadMapHeader();
            bool hasToken = false, hasValue = false;
            for (int i = 0; i < entries; i++)
            {
                var key = reader.ReadStringSegment();
                if (JsonRpcKeys.Is(key, JsonRpcKeys.TokenUtf8) && reader.NextType == MessagePackType.Integer)
                {
                    token = reader.ReadInt64();
                    hasToken = true;
                }
                else if (JsonRpcKeys.Is(key, JsonRpcKeys.ValueUtf8))
                {
                    value = reader.ReadRaw();
                    hasValue = true;
                }
                else
                {
                    reader.Skip();
                }
            }
            return hasToken && hasValue;
        }
    }
}
