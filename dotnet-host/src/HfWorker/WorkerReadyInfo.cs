using System;
using System.Collections.Generic;
using System.Linq;

namespace HfWorker
{
    /// <summary>What the worker said about itself in its first message, <c>worker/ready</c>.</summary>
    public sealed class WorkerReadyInfo
    {
        /// <summary>The protocol version (1).</summary>
        public int Protocol { get; private set; }

        /// <summary>The worker package's version.</summary>
        public string Version { get; private set; }

        /// <summary>The worker's process id as it sees it.</summary>
        public int ProcessId { get; private set; }

        /// <summary>The Python version.</summary>
        public string Python { get; private set; }

        /// <summary>"msgpack" (the only encoding this host speaks).</summary>
        public string Encoding { get; private set; }

        /// <summary>"length" (the only framing this host speaks).</summary>
        public string Framing { get; private set; }

        /// <summary>"stdio" or "pipe".</summary>
        public string Transport { get; private set; }

        /// <summary>The methods the worker serves.</summary>
        public IReadOnlyList<string> Methods { get; private set; }

        /// <summary>The worker's frame limit.</summary>
        public long MaxFrameBytes { get; private set; }

        /// <summary>The worker's limit on requests in flight.</summary>
        public int MaxInflight { get; private set; }

        /// <summary>
        /// The one-time secret the worker echoed from its environment (<c>HF_WORKER_TOKEN</c>), or null. Kept
        /// internal: it proves the peer is the started process, and nothing else should see it.
        /// </summary>
        internal string Token { get; private set; }

        /// <summary>True when the worker serves <paramref name="method"/>.</summary>
        public bool Supports(string method)
        {
            return Methods.Contains(method);
        }

        internal static WorkerReadyInfo From(object parameters)
        {
            var map = parameters as IDictionary<string, object>;
            if (map == null) throw new FormatException("worker/ready params are not a map");
            var info = new WorkerReadyInfo();
            info.Protocol = (int)Number(map, "protocol");
            info.Version = Text(map, "version");
            info.ProcessId = (int)Number(map, "pid");
            info.Python = Text(map, "python");
            info.Encoding = Text(map, "encoding");
            info.Framing = Text(map, "framing");
            info.Transport = Text(map, "transport");
            object methods;
            var list = map.TryGetValue("methods", out methods) ? methods as object[] : null;
            info.Methods = list == null ? new string[0] : list.OfType<string>().ToArray();
            info.MaxFrameBytes = Number(map, "max_frame_bytes");
            info.MaxInflight = (int)Number(map, "max_inflight");
            info.Token = Text(map, "token");
            return info;
        }

        private static long Number(IDictionary<string, object> map, string key)
        {
            object value;
            if (map.TryGetValue(key, out value) && value is long) return (long)value;
            throw new FormatException("worker/ready has no integer \"" + key + "\"");
        }

        private static string Text(IDictionary<string, object> map, string key)
        {
            object value;
            return map.TryGetValue(key, out value) ? value as string : null;
        }
    }
}
