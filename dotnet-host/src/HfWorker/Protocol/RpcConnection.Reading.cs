using System;
using System.Collections.Generic;
using System.Threading;
using HfWorker.Framing;

namespace HfWorker.Protocol
{
    /// <summary>
    /// The reading side of <see cref="RpcConnection"/>: whose turn it is to read the worker's frames, handing out what
    /// they carry inline, and a new reader taking over from one held up in a caller's code (<see cref="ReaderWatch"/>).
    /// </summary>
    internal sealed partial class RpcConnection
    {
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

        /// <summary>How many times a new reader took over from one held up (counted as it happens; the event follows).</summary>
        public int TakeOvers
        {
            get { return Volatile.Read(ref _takeOvers); }
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

        /// <summary>Checking this connection's reader threw (a bug): say so, and never let it reach the watch's thread.</summary>
        internal void WatchFailed(Exception error)
        {
            try
            {
                Log("watching the connection's reader failed: " + error.GetType().Name + ": " + error.Message);
            }
            catch (Exception)
            {
                // A log handler that throws too has nothing left to tell.
            }
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
            if (warning != null) ThreadPool.UnsafeQueueUserWorkItem(_ => Raise(ReaderTakenOver, warning, "ReaderTakenOver"), null);
        }
    }
}
