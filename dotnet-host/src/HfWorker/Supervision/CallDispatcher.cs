using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker.Supervision
{
    /// <summary>
    /// A pool's calls between acceptance and a worker: the bounded queue, admission (wait or refuse
    /// when full), routing to the least loaded active worker (or to the one a handle pins the call to),
    /// and the counters. All slot fields are guarded by <see cref="Lock"/>.
    /// </summary>
    /// <remarks>
    /// A worker's load is its running pool calls plus its abandoned calls (<see cref="WorkerSlot.Load"/>): a
    /// cancel or a timeout frees the caller at once, not the worker, whose -32800 may say the work goes on.
    /// Abandoned work that stops does not end a pool call, so the dispatcher also pumps when a worker reports it.
    /// </remarks>
    internal sealed class CallDispatcher : ICallScheduler
    {
        private readonly WorkerSlot[] _slots;
        private readonly int _maxCallsPerWorker;
        private readonly QueueFullBehavior _whenFull;
        private readonly LinkedList<PoolCall> _queue = new LinkedList<PoolCall>();
        private readonly SemaphoreSlim _queueRoom;
        private int _pinnedQueued;
        private int _waitingForRoom;
        private int _nextSlot;
        private bool _stopping;
        private long _succeeded, _failed, _cancelled, _timedOut, _rejected, _retried;

        public CallDispatcher(WorkerSlot[] slots, WorkerPoolOptions options)
        {
            _slots = slots;
            _maxCallsPerWorker = options.MaxCallsPerWorker;
            _whenFull = options.WhenQueueFull;
            _queueRoom = new SemaphoreSlim(options.MaxQueueLength, options.MaxQueueLength);
        }

        public readonly object Lock = new object();

        public bool Stopping
        {
            get
            {
                lock (Lock) return _stopping;
            }
        }

        /// <summary>Take the call into the queue (waiting for room, or refusing it) and dispatch what can run.</summary>
        public Task AdmitAsync(PoolCall call, CancellationToken stop)
        {
            if (TryStartAtOnce(call)) return Task.CompletedTask;
            // With room at once (the usual case) no state machine is made.
            if (!_queueRoom.Wait(0)) return WaitForRoomThenAdmitAsync(call, stop);
            Admit(call);
            return Task.CompletedTask;
        }

        private async Task WaitForRoomThenAdmitAsync(PoolCall call, CancellationToken stop)
        {
            if (_whenFull == QueueFullBehavior.Throw)
            {
                Interlocked.Increment(ref _rejected);
                int length;
                lock (Lock) length = _queue.Count;
                throw new PoolOverloadedException(call.Method, length);
            }
            Interlocked.Increment(ref _waitingForRoom);
            try
            {
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(call.CallerToken, stop))
                {
                    // The shared deadlines, not CancelAfter: a timer per waiting caller is what Deadlines replaced, and
                    // CancelAfter refuses a timeout past int.MaxValue ms, which CallTimeout allows.
                    var left = call.TimeLeft;
                    var deadline = left == Timeout.InfiniteTimeSpan ? null : Deadlines.Shared.Schedule(left, () => CancelQuietly(wait));
                    try
                    {
                        await _queueRoom.WaitAsync(wait.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (deadline != null) deadline.Dispose();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                if (stop.IsCancellationRequested) call.Fail(new ObjectDisposedException("WorkerPool", StoppedMessage(call.Method)));
                else call.EndAsCancelledOrTimedOut();
                return;
            }
            finally
            {
                Interlocked.Decrement(ref _waitingForRoom);
            }
            Admit(call);
        }

        /// <summary>
        /// The hot path: with nothing queued ahead of it, an unpinned call whose token has not fired goes straight to the
        /// least loaded worker with room, with no trip through the queue (its room, its node, a pump).
        /// </summary>
        private bool TryStartAtOnce(PoolCall call)
        {
            if (call.Affinity != null || call.IsDue) return false;
            WorkerSlot slot;
            WorkerProcess worker;
            lock (Lock)
            {
                if (_stopping || _queue.Count > 0) return false;
                WatchAbandonedWork();
                slot = LeastLoaded();
                if (slot == null) return false;
                slot.InFlight++;
                worker = slot.Active;
            }
            call.Start(slot, worker);
            return true;
        }

        private static void CancelQuietly(CancellationTokenSource source)
        {
            try
            {
                source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The wait ended while its deadline was on its way.
            }
        }

        /// <summary>Queue a call that holds a unit of queue room, then dispatch.</summary>
        private void Admit(PoolCall call)
        {
            bool refused;
            lock (Lock)
            {
                call.HoldsQueueRoom = true;
                refused = _stopping;
                if (refused) ReleaseRoom(call);
                else Enqueue(call, false);
            }
            if (refused)
            {
                call.Fail(new ObjectDisposedException("WorkerPool", StoppedMessage(call.Method)));
                return;
            }
            call.WatchWhileQueued();
            // Its token may have fired, or its time run out, before it was watched.
            if (call.IsDue && Withdraw(call)) call.EndAsCancelledOrTimedOut();
            Pump();
        }

        /// <summary>Start every queued call that a worker can take now; fail pinned calls whose worker is gone.</summary>
        public void Pump()
        {
            // Made only when needed: most pumps start one call or none.
            List<Tuple<PoolCall, WorkerSlot, WorkerProcess>> starts = null;
            List<PoolCall> orphans = null;
            lock (Lock)
            {
                WatchAbandonedWork();
                var node = _queue.First;
                while (node != null)
                {
                    var next = node.Next;
                    var call = node.Value;
                    WorkerSlot slot;
                    if (call.Affinity != null)
                    {
                        slot = _slots.FirstOrDefault(s => s.Active == call.Affinity);
                        if (slot == null && !_slots.Any(s => s.SettingUp == call.Affinity))
                        {
                            Dequeue(call);
                            (orphans ?? (orphans = new List<PoolCall>())).Add(call);
                        }
                        else if (slot != null && slot.TakesCalls && slot.Load < _maxCallsPerWorker)
                        {
                            Dequeue(call);
                            slot.InFlight++;
                            (starts ?? (starts = new List<Tuple<PoolCall, WorkerSlot, WorkerProcess>>())).Add(Tuple.Create(call, slot, slot.Active));
                        }
                    }
                    else
                    {
                        slot = LeastLoaded();
                        if (slot == null)
                        {
                            // Nothing can take an unpinned call: only pinned ones further back might move.
                            if (_pinnedQueued == 0) break;
                        }
                        else
                        {
                            Dequeue(call);
                            slot.InFlight++;
                            (starts ?? (starts = new List<Tuple<PoolCall, WorkerSlot, WorkerProcess>>())).Add(Tuple.Create(call, slot, slot.Active));
                        }
                    }
                    node = next;
                }
            }
            if (orphans != null) foreach (var call in orphans) call.Fail(Orphaned(call));
            if (starts != null) foreach (var start in starts) start.Item1.Start(start.Item2, start.Item3);
        }

        /// <summary>Remove and return every queued call (the pool is stopping).</summary>
        public List<PoolCall> StopAndDrain()
        {
            lock (Lock)
            {
                _stopping = true;
                var queued = _queue.ToList();
                foreach (var call in queued) Dequeue(call);
                return queued;
            }
        }

        public int QueueLength
        {
            get
            {
                lock (Lock) return _queue.Count;
            }
        }

        public void Fill(WorkerPoolStatistics statistics)
        {
            statistics.QueueLength = _queue.Count;
            statistics.WaitingForQueue = Volatile.Read(ref _waitingForRoom);
            statistics.Succeeded = Interlocked.Read(ref _succeeded);
            statistics.Failed = Interlocked.Read(ref _failed);
            statistics.Cancelled = Interlocked.Read(ref _cancelled);
            statistics.TimedOut = Interlocked.Read(ref _timedOut);
            statistics.Rejected = Interlocked.Read(ref _rejected);
            statistics.Retried = Interlocked.Read(ref _retried);
            statistics.AbandonedCalls = _slots.Sum(s => s.Active == null ? 0 : s.Active.AbandonedCalls);
        }

        internal static string StoppedMessage(string method)
        {
            return method + ": the pool was stopped before the call reached a worker";
        }

        // ---- ICallScheduler ------------------------------------------------------------------------

        public void Finished(PoolCall call, WorkerSlot slot, bool retry)
        {
            bool queued, stopped = false;
            lock (Lock)
            {
                slot.InFlight--;
                // A retry goes first: it has waited longest, and it needs no new room in the queue. Whether the pool
                // is stopping is read here, under the lock: once queued, a pump may start the call at once.
                if (retry)
                {
                    stopped = _stopping;
                    if (!stopped) Enqueue(call, true);
                }
                queued = _queue.Count > 0;
            }
            if (stopped) call.Fail(new ObjectDisposedException("WorkerPool", StoppedMessage(call.Method)));
            else if (retry) call.WatchWhileQueued();
            // Nothing queued, nothing to start: the next call admitted finds the room this one left.
            if (queued) Pump();
        }

        public bool Withdraw(PoolCall call)
        {
            lock (Lock)
            {
                if (call.Node == null) return false;
                Dequeue(call);
                return true;
            }
        }

        public void Count(PoolCallOutcome outcome)
        {
            switch (outcome)
            {
                case PoolCallOutcome.Succeeded: Interlocked.Increment(ref _succeeded); break;
                case PoolCallOutcome.Failed: Interlocked.Increment(ref _failed); break;
                case PoolCallOutcome.Cancelled: Interlocked.Increment(ref _cancelled); break;
                case PoolCallOutcome.TimedOut: Interlocked.Increment(ref _timedOut); Interlocked.Increment(ref _failed); break;
                case PoolCallOutcome.Retried: Interlocked.Increment(ref _retried); break;
            }
        }

        // ---- queue (under Lock) -------------------------------------------------------------------

        private void Enqueue(PoolCall call, bool atFront)
        {
            call.Node = atFront ? _queue.AddFirst(call) : _queue.AddLast(call);
            if (call.Affinity != null) _pinnedQueued++;
        }

        private void Dequeue(PoolCall call)
        {
            _queue.Remove(call.Node);
            call.Node = null;
            if (call.Affinity != null) _pinnedQueued--;
            ReleaseRoom(call);
        }

        private void ReleaseRoom(PoolCall call)
        {
            if (!call.HoldsQueueRoom) return;
            call.HoldsQueueRoom = false;
            _queueRoom.Release();
        }

        /// <summary>The active worker with the least load (calls and abandoned work) and room for one more call; ties rotate.</summary>
        private WorkerSlot LeastLoaded()
        {
            WorkerSlot best = null;
            int bestLoad = int.MaxValue;
            int n = _slots.Length;
            int first = _nextSlot++ % n;
            if (_nextSlot >= n) _nextSlot = 0;
            for (int k = 0; k < n; k++)
            {
                var slot = _slots[(first + k) % n];
                if (!slot.TakesCalls) continue;
                int load = slot.Load;
                if (load >= _maxCallsPerWorker || load >= bestLoad) continue;
                best = slot;
                bestLoad = load;
            }
            return best;
        }

        /// <summary>Listen to each new active worker for abandoned work that stops: it may free room for queued calls.</summary>
        private void WatchAbandonedWork()
        {
            foreach (var slot in _slots)
            {
                var worker = slot.Active;
                if (worker == null || slot.Watched == worker) continue;
                slot.Watched = worker;
                worker.AbandonedWorkStopped += OnAbandonedWorkStopped;
            }
        }

        private void OnAbandonedWorkStopped(WorkerProcess worker)
        {
            // Raised on the worker's frame reader: starting calls (and writing their requests) is not its job.
            ThreadPool.QueueUserWorkItem(_ => Pump());
        }

        private static Exception Orphaned(PoolCall call)
        {
            var worker = call.Affinity;
            var info = worker.ExitInfo;
            if (info != null) return new WorkerCrashedException(info, call.Method);
            return new ArgumentException(call.Method + " refers to a handle on worker process " + worker.ProcessId
                + ", which is not a worker of this pool");
        }
    }
}
