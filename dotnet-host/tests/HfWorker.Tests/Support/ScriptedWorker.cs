using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using HfWorker.Framing;
using HfWorker.MessagePack;
using HfWorker.Protocol;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// The worker's end of an in-memory connection, driven by the test: read what the host sent, answer
    /// with whatever frames the test wants, including wrong ones.
    /// </summary>
    internal sealed class ScriptedWorker
    {
        public readonly MemoryPipe ToHost = new MemoryPipe();
        public readonly MemoryPipe FromHost = new MemoryPipe();
        private readonly FrameReader _reader;

        public ScriptedWorker()
        {
            _reader = new FrameReader(FromHost, 1 << 20);
        }

        /// <summary>A connection wired to this scripted worker, already reading.</summary>
        public RpcConnection Connect(List<string> log = null)
        {
            var connection = new RpcConnection(ToHost, FromHost, 1 << 20);
            if (log != null) connection.Log = line => { lock (log) log.Add(line); };
            connection.StartReading();
            return connection;
        }

        /// <summary>The next message the host sent, as plain values.</summary>
        public async Task<Dictionary<string, object>> ReceiveAsync()
        {
            // The reader blocks; a test awaiting it must not hold its own thread meanwhile.
            var payload = await Task.Run(() => _reader.ReadFrame());
            return (Dictionary<string, object>)new MessagePackReader(payload).ReadValue();
        }

        public void Send(object message)
        {
            SendRaw(Values.Encode(message));
        }

        public void SendRaw(byte[] payload)
        {
            var header = new[] { (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length };
            ToHost.Write(header, 0, 4);
            ToHost.Write(payload, 0, payload.Length);
        }

        public void Result(object id, object result)
        {
            Send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "id", id }, { "result", result } });
        }

        public void Error(object id, int code, string message, object data = null)
        {
            var error = new Dictionary<string, object> { { "code", code }, { "message", message } };
            if (data != null) error["data"] = data;
            Send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "id", id }, { "error", error } });
        }

        public void Progress(object token, object value)
        {
            Send(new Dictionary<string, object>
            {
                { "jsonrpc", "2.0" }, { "method", "$/progress" }, { "params", new Dictionary<string, object> { { "token", token }, { "value", value } } },
            });
        }
    }
}
