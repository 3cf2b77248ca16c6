using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Framing;
using HfWorker.MessagePack;
using HfWorker.Utils;

namespace HfWorker.Protocol
{
    /// <summary>
    /// JSON-RPC over a pair of framed streams: numbers requests, matches responses to them, routes
    /// <c>$/progress</c> to its call and other notifications to a callback. Knows nothing of processes:
    /// when the stream ends it says so, and the owner decides when (and with which exception) the calls
    /// still pending are failed by <see cref="Close"/>.
    /// </summary>
    internal sealed partial class RpcConnection
    {
        private readonly FrameReader _reader;
        private readonly FrameWriter _writer;
        private readonly int _maxFrameBytes;
        private readonly object _lock = new object();
        private readonly Dictionary<long, PendingCall> _pending = new Dictionary<long, PendingCall>();
        private readonly AbandonedCalls _abandoned = new AbandonedCalls();  // guarded by _lock, like _pending
        private readonly InOrder _events = new InOrder();  // notifications and AbandonedChanged, in the worker's order
        private Func<PendingCall, Exception> _closed;
        private long _nextId;
        private int _broken;

        public RpcConnection(Stream input, Stream output, int maxFrameBytes)
        {
            _reader = new FrameReader(input, maxFrameBytes);
            _writer = new FrameWriter(output, maxFrameBytes) { Failed = OnBroken };
            _maxFrameBytes = maxFrameBytes;
            Log = _ => { };
            Notification = _ => { };
            Broken = _ => { };
            AbandonedChanged = _ => { };
            ReaderTakenOver = _ => { };
        }

        /// <summary>Diagnostics about the connection (never about a call's own outcome).</summary>
        public Action<string> Log { get; set; }

        /// <summary>Notifications other than <c>$/progress</c>. Called on the reader.</summary>
        public Action<IncomingMessage> Notification { get; set; }

        /// <summary>
        /// The stream ended or broke (null: a clean end between frames). Called once. Pending calls stay
        /// pending until <see cref="Close"/>.
        /// </summary>
        public Action<Exception> Broken { get; set; }

        /// <summary>
        /// The reader was held up in code it ran (see <see cref="ReaderWatch"/>) and another thread took over reading:
        /// the message says so. Called on the thread pool (never on the watch's thread, which rescues every connection).
        /// </summary>
        public Action<string> ReaderTakenOver { get; set; }

        /// <summary>
        /// A call began or stopped being counted in <see cref="AbandonedCalls"/> (only those the worker reports:
        /// a -32800 saying <c>handler_running</c>, and what ends a counted call). Called on the reader, outside the lock.
        /// </summary>
        public Action<AbandonedCallChange> AbandonedChanged { get; set; }

        /// <summary>
        /// Calls the host no longer waits for whose work may still run in the worker: cancelled or timed out and
        /// not answered yet, or answered -32800 with <c>handler_running</c> and not yet followed by
        /// <c>worker/handlerDone</c> (see <see cref="Protocol.AbandonedCalls"/>). 0 once the connection is closed.
        /// </summary>
        public int AbandonedCalls
        {
            get { return _abandoned.Count; }
        }

        /// <summary>Requests sent whose answer has not arrived yet (cancelled ones included: the worker still works on them).</summary>
        public int InFlight
        {
            get
            {
                lock (_lock) return _pending.Count;
            }
        }

        public long FramesRead
        {
            get { return _reader.FramesRead; }
        }

        /// <summary>
        /// Send a request and return its call's task. The request is written on the caller's thread (see
        /// <see cref="FrameWriter"/>), and the call is armed (timeout, token) only once its request is queued, so
        /// that a <c>$/cancelRequest</c> for it is queued behind it and never reaches the worker first.
        /// </summary>
        public Task<T> InvokeAsync<T>(Invocation<T> invocation, WorkerProcess target, TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
            PendingCall<T> call;
            MessagePackWriter frame;
            try
            {
                long id = Interlocked.Increment(ref _nextId);
                bool wantsProgress = invocation.Progress != null || invocation.ProgressReader != null;
                frame = FrameWriter.StartFrame();
                OutgoingMessages.WriteRequest(frame, id, invocation.Method, invocation.ParametersFor(target), wantsProgress ? id : (long?)null);
                if (frame.Length > _maxFrameBytes)
                {
                    throw new ArgumentException(invocation.Method + ": the request needs a " + frame.Length
                        + "-byte frame, over the limit of " + _maxFrameBytes + " bytes (MaxFrameBytes); send large data in parts");
                }
                call = new PendingCall<T>(id, invocation, target);
                lock (_lock)
                {
                    if (_closed != null) throw _closed(call);
                    _pending.Add(id, call);
                }
            }
            catch (Exception e)
            {
                return Task.FromException<T>(e);
            }
            // A stream that failed already leaves the call pending: whoever watches the process fails it with the reason once known.
            if (!_writer.Enqueue(frame)) OnBroken(_writer.Failure);
            call.Arm(cancellationToken, timeout, SendCancel);
            // On this connection's reader (a continuation run inline, a progress handler) the request waits in the queue
            // until the reader has handed out what it has read: calls made from a burst of answers then go out in one
            // write, not one each (see ReadLoop).
            if (!DefersWritesHere) _writer.Flush(true);
            return call.Task;
        }

        public async Task NotifyAsync(string method, object parameters)
        {
            var frame = FrameWriter.StartFrame();
            OutgoingMessages.WriteNotification(frame, method, parameters);
            lock (_lock)
            {
                if (_closed != null) throw new ObjectDisposedException("connection", "the worker's connection is closed");
            }
            await _writer.WriteAsync(frame).ConfigureAwait(false);
        }

        /// <summary>Fail every pending call with the exception <paramref name="failure"/> builds for it, and every later call too.</summary>
        public void Close(Func<PendingCall, Exception> failure)
        {
            List<PendingCall> calls;
            lock (_lock)
            {
                if (_closed != null) return;
                _closed = failure;
                calls = _pending.Values.ToList();
                _pending.Clear();
                _abandoned.Clear();  // the worker is gone, and whatever it still did with it
            }
            foreach (var call in calls) call.Fail(failure(call));
        }

        /// <summary>Tell the worker to stop a call; its -32800 answer is then expected and dropped.</summary>
        private void SendCancel(long id)
        {
            GaveUp(id);
            var frame = FrameWriter.StartFrame();
            OutgoingMessages.WriteCancel(frame, id);
            // Queued behind the request (FIFO), and written off this thread: a token's callback or a user's Cancel() must not block on a full pipe.
            _writer.WriteAsync(frame, false).ContinueWith(
                t => Log("could not send $/cancelRequest for request " + id + ": " + t.Exception.GetBaseException().Message),
                TaskContinuationOptions.OnlyOnFaulted);
        }

        private void OnBroken(Exception error)
        {
            if (Interlocked.Exchange(ref _broken, 1) != 0) return;
            Broken(error);
        }

        private void Dispatch(IncomingMessage message)
        {
            switch (message.Kind)
            {
                case IncomingKind.Result:
                case IncomingKind.Error:
                    Answer(message);
                    break;
                case IncomingKind.Notification:
                    if (message.Method == OutgoingMessages.ProgressMethod) Progress(message);
                    else if (message.Method == Protocol.AbandonedCalls.HandlerDoneMethod) HandlerDone(message);
                    else _events.Run(() => Raise(Notification, message, "notification"));
                    break;
                case IncomingKind.Request:
                    Log("the worker sent a request (" + message.Method + "), which hosts do not serve; ignored");
                    break;
            }
        }

        /// <summary>Call one of the owner's handlers; what it throws is logged, never let into the reader or a pool thread.</summary>
        private void Raise<T>(Action<T> handler, T value, string what)
        {
            try
            {
                handler(value);
            }
            catch (Exception e)
            {
                Log("the " + what + " handler threw " + e.GetType().Name + ": " + e.Message);
            }
        }

        private void Answer(IncomingMessage message)
        {
            PendingCall call = null;
            AbandonedCallChange change = null;
            if (message.Id.HasValue)
            {
                long id = message.Id.Value;
                bool handlerRunning = message.Kind == IncomingKind.Error && message.ErrorCode == (int)RpcErrorCode.RequestCancelled
                    && Protocol.AbandonedCalls.SaysHandlerRunning(message.ErrorData);
                lock (_lock)
                {
                    if (_pending.TryGetValue(id, out call))
                    {
                        _pending.Remove(id);
                        // The answer ends the work unless it says the handler goes on (a given-up call, or one a
                        // shutdown cancelled): then worker/handlerDone will. Checked under the lock SendCancel
                        // takes, so a call answered before its cancel is never counted.
                        string method;
                        if (handlerRunning)
                        {
                            _abandoned.Add(id, call.Method);  // already counted if the host gave up on it
                            change = new AbandonedCallChange(id, call.Method, false, null, _abandoned.Count);
                        }
                        else if (_abandoned.Count > 0 && _abandoned.Remove(id, out method))
                        {
                            change = new AbandonedCallChange(id, method, true, null, _abandoned.Count);
                        }
                    }
                }
            }
            if (change != null) _events.Run(() => Raise(AbandonedChanged, change, "abandoned-call"));
            if (call == null)
            {
                // An error with a null id answers a frame the worker could not read: a host bug worth logging.
                Log(message.Kind == IncomingKind.Error
                    ? "the worker reported an error not tied to a request: [" + message.ErrorCode + "] " + message.ErrorMessage
                    : "a response for unknown request id " + (message.Id.HasValue ? message.Id.Value.ToString() : Convert.ToString(message.OtherId)));
                return;
            }
            if (message.Kind == IncomingKind.Result) call.Complete(message.Result);
            else call.Fail(new WorkerRpcException(call.Method, message.ErrorCode, message.ErrorMessage, message.ErrorData), true);
        }

        /// <summary>Under way in <see cref="SendCancel"/>: the host gave up on a call the worker has not answered yet.</summary>
        private void GaveUp(long id)
        {
            lock (_lock)
            {
                PendingCall call;
                if (_pending.TryGetValue(id, out call)) _abandoned.Add(id, call.Method);
            }
        }

        private void HandlerDone(IncomingMessage message)
        {
            long id;
            double seconds;
            bool ok;
            try
            {
                ok = Protocol.AbandonedCalls.TryReadHandlerDone(message.Params, out id, out seconds);
            }
            catch (MessagePackException e)
            {
                Log("malformed " + message.Method + " ignored: " + e.Message);
                return;
            }
            if (!ok)
            {
                Log("a " + message.Method + " without an integer id was ignored");
                return;
            }
            AbandonedCallChange change = null;
            lock (_lock)
            {
                string method;
                if (_abandoned.Remove(id, out method)) change = new AbandonedCallChange(id, method, true, seconds, _abandoned.Count);
            }
            // None for an id not counted: the connection was closed meanwhile, or the worker broke its promise (logged).
            if (change != null) _events.Run(() => Raise(AbandonedChanged, change, "abandoned-call"));
            else Log(message.Method + " for request " + id + ", which no -32800 said was still running; ignored");
        }

        private void Progress(IncomingMessage message)
        {
            long token;
            ArraySegment<byte> value;
            bool ok;
            try
            {
                ok = IncomingMessage.TryReadProgress(message.Params, out token, out value);
            }
            catch (MessagePackException e)
            {
                Log("malformed $/progress ignored: " + e.Message);
                return;
            }
            if (!ok)
            {
                Log("a $/progress without an integer token and a value was ignored");
                return;
            }
            PendingCall call;
            lock (_lock)
            {
                _pending.TryGetValue(token, out call);
            }
            if (call != null) call.ReportProgress(value, Log);
        }
    }
}
