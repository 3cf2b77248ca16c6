using System;
using System.Collections.Generic;
using System.Threading;
using HfWorker.MessagePack;

namespace HfWorker.Protocol
{
    /// <summary>
    /// Calls whose work may still run in the worker although nobody waits for their answer any more:
    /// cancelled or timed out by the host and not yet answered, or answered -32800 with
    /// <c>data.handler_running</c> (protocol.md, Cancellation) and not yet followed by
    /// <c>worker/handlerDone</c>. A worker busy with them is busy, even with nothing in flight: a pool
    /// counts them when it routes calls (issue 10: a cancelled embed made the next tiny call wait 11.8 s).
    /// </summary>
    /// <remarks>Not thread-safe: <see cref="RpcConnection"/> uses it under its own lock, the one that
    /// also guards its pending calls, so an answer and the cancel it races with are ordered.</remarks>
    internal sealed class AbandonedCalls
    {
        private readonly Dictionary<long, string> _methods = new Dictionary<long, string>();
        private int _count;

        /// <summary>How many there are; readable without the lock.</summary>
        public int Count
        {
            get { return Volatile.Read(ref _count); }
        }

        /// <summary>Count a call; false if it was counted already.</summary>
        public bool Add(long id, string method)
        {
            if (_methods.ContainsKey(id)) return false;
            _methods.Add(id, method);
            Volatile.Write(ref _count, _methods.Count);
            return true;
        }

        /// <summary>Stop counting a call; false if it was not counted.</summary>
        public bool Remove(long id, out string method)
        {
            if (!_methods.TryGetValue(id, out method)) return false;
            _methods.Remove(id);
            Volatile.Write(ref _count, _methods.Count);
            return true;
        }

        /// <summary>The worker ended: whatever it was doing has stopped.</summary>
        public void Clear()
        {
            _methods.Clear();
            Volatile.Write(ref _count, 0);
        }

        /// <summary>Whether a -32800's <c>data</c> says the request's handler still runs in the worker.</summary>
        public static bool SaysHandlerRunning(object errorData)
        {
            var map = errorData as IDictionary<string, object>;
            object running;
            return map != null && map.TryGetValue(HandlerRunningKey, out running) && running is bool && (bool)running;
        }

        /// <summary>Read <c>worker/handlerDone</c>'s params; false when they are not as protocol.md says.</summary>
        public static bool TryReadHandlerDone(ArraySegment<byte> parameters, out long id, out double secondsAfterAnswer)
        {
            id = 0;
            secondsAfterAnswer = 0;
            if (parameters.Array == null || parameters.Count == 0) return false;
            var map = new MessagePackReader(parameters).ReadValue() as IDictionary<string, object>;
            object value;
            if (map == null || !map.TryGetValue("id", out value) || !(value is long)) return false;
            id = (long)value;
            if (map.TryGetValue("seconds_after_answer", out value) && (value is double || value is float || value is long))
            {
                secondsAfterAnswer = Convert.ToDouble(value);
            }
            return true;
        }

        /// <summary>The notification the worker sends when an abandoned handler has returned.</summary>
        public const string HandlerDoneMethod = "worker/handlerDone";

        private const string HandlerRunningKey = "handler_running";
    }

    /// <summary>A change in a connection's <see cref="AbandonedCalls"/> that the owner reports (typed, for host events and the pool).</summary>
    internal sealed class AbandonedCallChange
    {
        public AbandonedCallChange(long id, string method, bool stopped, double? secondsAfterAnswer, int count)
        {
            Id = id;
            Method = method;
            Stopped = stopped;
            SecondsAfterAnswer = secondsAfterAnswer;
            Count = count;
        }

        /// <summary>The request's id.</summary>
        public long Id { get; private set; }

        /// <summary>The request's method.</summary>
        public string Method { get; private set; }

        /// <summary>False: the worker said the call's handler goes on after its -32800. True: the call's work has stopped.</summary>
        public bool Stopped { get; private set; }

        /// <summary>From <c>worker/handlerDone</c>: how long the handler ran on after its answer; null when the work ended otherwise.</summary>
        public double? SecondsAfterAnswer { get; private set; }

        /// <summary>Abandoned calls on the connection after this change.</summary>
        public int Count { get; private set; }
    }
}
