using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;

namespace HfWorker.Framing
{
    /// <summary>
    /// Writes length-prefixed frames in the order they were queued: callers on many threads share one
    /// stream, and a frame must reach it whole. The payload is encoded behind a reserved 4-byte header, so
    /// a lone frame goes out in a single write with no copy.
    /// </summary>
    /// <remarks>
    /// <para>Why synchronous, on the caller's thread: a process's pipes are not truly asynchronous on every
    /// runtime (Mono's are not), so <c>WriteAsync</c> and <c>FlushAsync</c> each became a blocking work item on
    /// the thread pool, two hand-offs per call that cost more than the write itself. A frame is small, and a
    /// pipe write of it returns at once unless the worker has stopped reading.</para>
    /// <para>Who writes: a frame is queued, and the first caller to find nobody writing becomes the writer
    /// and writes everything queued (several frames at once are copied into one write). Every other caller
    /// queues its frame and returns at once. So when the worker stops reading (frozen, or holding the GIL on
    /// its reader) and its pipe fills, one thread is blocked in the write, not every caller: the others'
    /// calls are queued behind it and end by their own timeouts and tokens as usual, and their cancels are
    /// queued behind their requests. The blocked thread is released when the worker reads again or ends (a
    /// pool kills a worker that stops answering pings, and the write then fails). A writer that has written
    /// many rounds for others hands the rest to the thread pool rather than keep its own caller waiting,
    /// and a writer that must never block (a timer's thread, a token's callback) does the same from the
    /// start (<c>onThisThread</c> false).</para>
    /// <para>Order: frames reach the stream in the order they were queued, so a <c>$/cancelRequest</c> queued
    /// after its request can never overtake it.</para>
    /// </remarks>
    internal sealed class FrameWriter
    {
        // Rounds of writing one caller does before handing the rest to the thread pool.
        private const int RoundsOnCaller = 4;
        // Frames smaller than this are gathered into one write when several are queued.
        private const int BatchBytes = 64 * 1024;

        private readonly Stream _stream;
        private readonly int _maxFrameBytes;
        private readonly object _gate = new object();
        private readonly Queue<Outgoing> _queue = new Queue<Outgoing>();
        private readonly List<Outgoing> _taken = new List<Outgoing>();
        private readonly WaitCallback _flushOnPool;
        private byte[] _batch;
        private bool _writing;
        private Exception _failure;

        public FrameWriter(Stream stream, int maxFrameBytes)
        {
            if (stream == null) throw new ArgumentNullException("stream");
            _stream = stream;
            _maxFrameBytes = maxFrameBytes;
            _flushOnPool = _ => WriteQueued(int.MaxValue);
            Failed = _ => { };
        }

        /// <summary>The stream refused a write: called once, on the thread that was writing. Frames queued then and later are dropped.</summary>
        public Action<Exception> Failed { get; set; }

        /// <summary>Why the stream refused a write, or null while it takes them.</summary>
        public Exception Failure
        {
            get
            {
                lock (_gate) return _failure;
            }
        }

        /// <summary>A writer whose first bytes are reserved for the header; encode the payload into it.</summary>
        public static MessagePackWriter StartFrame()
        {
            var writer = new MessagePackWriter(256);
            writer.ResetWithReservedPrefix(FrameReader.HeaderSize);
            return writer;
        }

        /// <summary>The complete frame for a payload encoded after <see cref="StartFrame"/>.</summary>
        public static ArraySegment<byte> FinishFrame(MessagePackWriter payload)
        {
            int length = payload.Length;
            payload.FillReserved(0, (byte)(length >> 24));
            payload.FillReserved(1, (byte)(length >> 16));
            payload.FillReserved(2, (byte)(length >> 8));
            payload.FillReserved(3, (byte)length);
            return payload.WrittenBytesWithPrefix;
        }

        /// <summary>
        /// Queue a payload encoded after <see cref="StartFrame"/> behind every frame queued before it; nothing is
        /// written until <see cref="Flush"/>. False when the stream has already failed (the frame is dropped).
        /// </summary>
        public bool Enqueue(MessagePackWriter payload)
        {
            return Enqueue(payload, null);
        }

        /// <summary>
        /// Queue a frame and write it (on this thread unless <paramref name="onThisThread"/> is false or a writer is
        /// at it already); the task ends once it is written, or faults with the stream's failure or the frame limit.
        /// </summary>
        public Task WriteAsync(MessagePackWriter payload, bool onThisThread = true)
        {
            var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                if (!Enqueue(payload, written)) written.TrySetException(Failure);
            }
            catch (ProtocolException e)
            {
                written.TrySetException(e);
                return written.Task;
            }
            Flush(onThisThread);
            return written.Task;
        }

        /// <summary>
        /// Write what is queued, unless a writer is at it already (it writes ours too). With
        /// <paramref name="onThisThread"/> false the writing is handed to the thread pool, for callers that must
        /// never block in a write.
        /// </summary>
        public void Flush(bool onThisThread)
        {
            lock (_gate)
            {
                if (_writing || _queue.Count == 0 || _failure != null) return;
                _writing = true;
            }
            if (onThisThread) WriteQueued(RoundsOnCaller);
            else ThreadPool.UnsafeQueueUserWorkItem(_flushOnPool, null);
        }

        private bool Enqueue(MessagePackWriter payload, TaskCompletionSource<bool> written)
        {
            if (payload.Length > _maxFrameBytes)
            {
                throw new ProtocolException(
                    "a " + payload.Length + "-byte message exceeds the frame limit of " + _maxFrameBytes + " bytes; "
                    + "raise MaxFrameBytes or send large data in parts");
            }
            var frame = FinishFrame(payload);
            lock (_gate)
            {
                if (_failure != null) return false;
                _queue.Enqueue(new Outgoing(frame, written));
                return true;
            }
        }

        /// <summary>The writer's loop: only the thread that set <see cref="_writing"/> runs it.</summary>
        private void WriteQueued(int rounds)
        {
            try
            {
                for (int round = 0; ; round++)
                {
                    lock (_gate)
                    {
                        if (_queue.Count == 0)
                        {
                            _writing = false;
                            return;
                        }
                        if (round == rounds)
                        {
                            // Keep _writing: the pool's thread carries on where this one stops.
                            ThreadPool.UnsafeQueueUserWorkItem(_flushOnPool, null);
                            return;
                        }
                        Take();
                    }
                    WriteTaken();
                }
            }
            catch (Exception e)
            {
                List<Outgoing> dropped;
                lock (_gate)
                {
                    _failure = e;
                    _writing = false;
                    dropped = new List<Outgoing>(_taken);
                    dropped.AddRange(_queue);
                    _queue.Clear();
                    _taken.Clear();
                }
                foreach (var frame in dropped)
                {
                    if (frame.Written != null) frame.Written.TrySetException(e);
                }
                Failed(e);
            }
        }

        /// <summary>Move the next frames to write from the queue to <see cref="_taken"/> (under the gate).</summary>
        private void Take()
        {
            int bytes = 0;
            while (_queue.Count > 0)
            {
                int next = _queue.Peek().Frame.Count;
                if (_taken.Count > 0 && bytes + next > BatchBytes) break;
                _taken.Add(_queue.Dequeue());
                bytes += next;
            }
        }

        private void WriteTaken()
        {
            if (_taken.Count == 1)
            {
                var frame = _taken[0].Frame;
                _stream.Write(frame.Array, frame.Offset, frame.Count);
            }
            else
            {
                if (_batch == null) _batch = new byte[BatchBytes];
                int used = 0;
                foreach (var outgoing in _taken)
                {
                    var frame = outgoing.Frame;
                    if (used + frame.Count > _batch.Length)
                    {
                        _stream.Write(_batch, 0, used);
                        used = 0;
                    }
                    if (frame.Count > _batch.Length)
                    {
                        _stream.Write(frame.Array, frame.Offset, frame.Count);
                        continue;
                    }
                    Buffer.BlockCopy(frame.Array, frame.Offset, _batch, used, frame.Count);
                    used += frame.Count;
                }
                if (used > 0) _stream.Write(_batch, 0, used);
            }
            _stream.Flush();
            foreach (var outgoing in _taken)
            {
                if (outgoing.Written != null) outgoing.Written.TrySetResult(true);
            }
            _taken.Clear();
        }

        /// <summary>A frame waiting to be written, and who waits for it (null: nobody).</summary>
        private struct Outgoing
        {
            public readonly ArraySegment<byte> Frame;
            public readonly TaskCompletionSource<bool> Written;

            public Outgoing(ArraySegment<byte> frame, TaskCompletionSource<bool> written)
            {
                Frame = frame;
                Written = written;
            }
        }
    }
}
