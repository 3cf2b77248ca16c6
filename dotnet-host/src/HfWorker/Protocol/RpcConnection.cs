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
    internal sealed class RpcConnection
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
        private int _takeOvers;
        // Whose turn it is to read, and what it does (see ReadLoop): even while a reader waits for the next frame,
        // odd while it dispatches one (callers' code may run). Only the reader whose turn it is, or the watch taking
        // a stuck turn over, changes it, and both by compare-and-swap, so exactly one thread reads at a time.
        private long _turn;
        private long _flushingTurn;  // the odd turn whose reader is writing what was queued during it, or 0
        private Thread _readerThread;  // the thread whose turn it is (set by each reader as it starts)
        private long _turnSeenDispatching = -1;  // the watch thread's own: the odd turn it saw last tick
        private int _ticksSeenDispatching;  // the watch thread's own: for how many ticks since

        // A running reader (not waiting) keeps its turn for this many ticks of ReaderWatch: one second.
        private const int RunningTicksAllowed = 1000 / ReaderWatch.TickMilliseconds;

        // Frames a reader hands out before it writes what the code it ran queued (see ReadLoop).
        private const int FramesPerFlush = 16;

        [ThreadStatic]
        private static RpcConnection _dispatchingFor;
        [ThreadStatic]
        private static long _dispatchingTurn;

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
        /// the message says so. Called on the watch's thread: keep it quick.
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

        /// <summary>How many times a new reader took over from one held up (counted as it happens; the event follows).</summary>
        public int TakeOvers
        {
            get { return Volatile.Read(ref _takeOvers); }
        }

        public long FramesRead
        {
            get { return _reader.FramesRead; }
        }

        /// <summary>
        /// True on a connection's reader thread while it hands out a frame's answers, progress and notifications:
        /// code run there runs inline, one thread hop sooner, and <see cref="ReaderWatch"/> lets another thread go on
        /// reading if that code holds the reader up. A caller's continuation may be run here (see <see cref="PendingCall"/>).
        /// </summary>
        public static bool OnDispatchingReader
        {
            get { return _dispatchingFor != null; }
        }

        /// <summary>
        /// Called by the library before it blocks its caller's thread (a <c>Dispose</c> waiting for workers to end): on a
        /// connection's reader, another thread takes over reading at once, quietly, instead of after a tick of
        /// <see cref="ReaderWatch"/> with a <see cref="ReaderTakenOver"/> warning. The last call's continuation in a
        /// <c>using</c> block runs there, and its <c>Dispose</c> waits for frames only a reader can read.
        /// </summary>
        public static void BeforeBlocking()
        {
            var connection = _dispatchingFor;
            if (connection != null) connection.TakeOver(_dispatchingTurn, null);
        }

        /// <summary>
        /// Whether this thread is this connection's reader in its turn, handing out a frame: then what is sent here waits
        /// for the reader to write it when done (or for the reader that takes its turn over, which writes first). A thread
        /// that has lost its turn writes itself: nobody else would.
        /// </summary>
        private bool DefersWritesHere
        {
            get { return _dispatchingFor == this && Volatile.Read(ref _turn) == _dispatchingTurn; }
        }

        /// <summary>
        /// Start reading frames on a background thread of the connection's own (reads block; see <see cref="FrameReader"/>).
        /// </summary>
        public void StartReading()
        {
            ReaderWatch.Add(this);
            StartReader(0);
        }

        private void StartReader(long turn)
        {
            new Thread(ReadLoop) { IsBackground = true, Name = "hf-worker frames" }.Start(turn);
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

        /// <summary>
        /// Read frames and hand out what they carry, for as long as it is this thread's turn. Answers are handed out
        /// inline, so the caller's continuation may run right here; a thread held up there (see <see cref="CheckReader"/>)
        /// loses its turn to a new reader, and ends once the caller's code lets it go. Frames are read by one thread at
        /// a time, in order; what must reach the caller in order (a call's progress and then its answer, the
        /// connection's notifications) goes through an <see cref="InOrder"/>, so a new reader queues it behind the
        /// held-up code rather than overtaking it.
        /// </summary>
        /// <remarks>
        /// A frame is parsed before its turn begins, so a malformed one breaks the connection even if the reader is
        /// taken over meanwhile. Requests made by the code run here are queued, and written here once no whole frame is
        /// left to read (or every <see cref="FramesPerFlush"/> frames), still inside the turn: a reader blocked in that
        /// write (the worker's pipe is full while it waits for us to read) is taken over like one held up in a caller's
        /// code, and a new reader first writes what its predecessor left queued. A batch frame's messages stay with the
        /// thread that began it (the host sends no batches, so the worker answers none).
        /// </remarks>
        private void ReadLoop(object firstTurn)
        {
            long turn = (long)firstTurn;
            List<IncomingMessage> messages = null;
            int sinceFlush = FramesPerFlush;  // a reader taking over first writes what its predecessor left queued
            Exception end = null;
            Volatile.Write(ref _readerThread, Thread.CurrentThread);
            try
            {
                while (true)
                {
                    Volatile.Write(ref _turn, turn + 1);
                    _dispatchingFor = this;
                    _dispatchingTurn = turn + 1;
                    try
                    {
                        if (messages != null)
                        {
                            foreach (var message in messages) Dispatch(message);
                        }
                        // A thread that lost its turn leaves the reader and the queue to its successor.
                        if (Volatile.Read(ref _turn) != turn + 1) return;
                        if (++sinceFlush >= FramesPerFlush || !_reader.HasFrameBuffered)
                        {
                            sinceFlush = 0;
                            Volatile.Write(ref _flushingTurn, turn + 1);
                            _writer.Flush(true);
                            Volatile.Write(ref _flushingTurn, 0);
                        }
                    }
                    finally
                    {
                        _dispatchingFor = null;
                    }
                    if (Interlocked.CompareExchange(ref _turn, turn + 2, turn + 1) != turn + 1) return;  // taken over
                    turn += 2;
                    var payload = _reader.ReadFrame();
                    if (payload == null) break;
                    messages = IncomingMessage.ParseFrame(payload);
                }
            }
            catch (Exception e)
            {
                // The stream's end or a malformed frame, seen by the reader whose turn it is. Dispatching catches what
                // handlers throw; should it throw anyway, a thread that has lost its turn no longer speaks for the stream.
                if (Volatile.Read(ref _turn) > turn + 1)
                {
                    Log("handing out a frame failed after another thread took over reading: " + e.Message);
                    return;
                }
                end = e;
            }
            ReaderWatch.Remove(this);
            OnBroken(end);
        }

        /// <summary>
        /// Called by <see cref="ReaderWatch"/> each tick. A reader seen handing out the same frame as a tick ago is held
        /// up, and another thread takes over reading, when it waits: on a lock, a task or a sleep (a caller's code that
        /// blocks on another answer), or in the reader's own write to a worker whose pipe is full (it waits for us to
        /// read). A reader that is running (code that computes, or merely a thread waiting for a core on a busy
        /// machine) keeps its turn for <see cref="RunningTicksAllowed"/> ticks: taking it over would gain nothing.
        /// </summary>
        internal void CheckReader()
        {
            long turn = Volatile.Read(ref _turn);
            if ((turn & 1) == 0)
            {
                _turnSeenDispatching = -1;
                return;
            }
            if (turn != _turnSeenDispatching)
            {
                _turnSeenDispatching = turn;
                _ticksSeenDispatching = 0;
                return;
            }
            _ticksSeenDispatching++;
            var thread = Volatile.Read(ref _readerThread);
            bool waits = Volatile.Read(ref _flushingTurn) == turn
                || (thread != null && (thread.ThreadState & ThreadState.WaitSleepJoin) != 0);
            if (!waits && _ticksSeenDispatching < RunningTicksAllowed) return;
            _turnSeenDispatching = -1;
            TakeOver(turn, "code run on the connection's reader (a call's continuation, a progress or notification handler, or a "
                + "write to a full pipe) " + (waits ? "waited" : "ran") + " for over " + _ticksSeenDispatching * ReaderWatch.TickMilliseconds
                + " ms: another thread reads the worker's frames now");
        }

        /// <summary>
        /// Start a new reader in place of the one handing out <paramref name="turn"/>, unless that turn has ended already;
        /// then, off this thread, say so (<paramref name="warning"/>: the watch's thread must not run a caller's handler).
        /// </summary>
        private void TakeOver(long turn, string warning)
        {
            if (Interlocked.CompareExchange(ref _turn, turn + 1, turn) != turn) return;  // it finished meanwhile
            Interlocked.Increment(ref _takeOvers);
            StartReader(turn + 1);
            if (warning != null) ThreadPool.UnsafeQueueUserWorkItem(_ => ReaderTakenOver(warning), null);
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
                    else _events.Run(() => Notify(message));
                    break;
                case IncomingKind.Request:
                    Log("the worker sent a request (" + message.Method + "), which hosts do not serve; ignored");
                    break;
            }
        }

        private void Notify(IncomingMessage message)
        {
            try
            {
                Notification(message);
            }
            catch (Exception e)
            {
                Log("the notification handler threw on " + message.Method + ": " + e.GetType().Name + ": " + e.Message);
            }
        }

        private void RaiseAbandonedChanged(AbandonedCallChange change)
        {
            try
            {
                AbandonedChanged(change);
            }
            catch (Exception e)
            {
                Log("the abandoned-call handler threw: " + e.GetType().Name + ": " + e.Message);
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
            if (change != null) _events.Run(() => RaiseAbandonedChanged(change));
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
            if (change != null) _events.Run(() => RaiseAbandonedChanged(change));
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
