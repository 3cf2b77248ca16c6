using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker.Supervision
{
    /// <summary>What a pool call needs from the pool that runs it.</summary>
    internal interface ICallScheduler
    {
        bool Stopping { get; }

        /// <summary>The call ended on its slot's worker; <paramref name="retry"/> puts it back at the front of the queue.</summary>
        void Finished(PoolCall call, WorkerSlot slot, bool retry);

        /// <summary>A queued call was cancelled or timed out: take it out of the queue if it is still there.</summary>
        bool Withdraw(PoolCall call);

        void Count(PoolCallOutcome outcome);
    }

    internal enum PoolCallOutcome
    {
        Succeeded,
        Failed,
        Cancelled,
        TimedOut,
        Retried,
    }

    /// <summary>
    /// A call accepted by a pool: queued, then run on one worker (twice at most, when it is safe to
    /// retry and its first worker died of something the call cannot have caused: see <see cref="Invocation{T}.SafeToRetry"/>).
    /// Its task ends exactly once, whatever happens to the workers.
    /// </summary>
    internal abstract class PoolCall
    {
        private int _finished;

        protected PoolCall(string method, WorkerProcess affinity)
        {
            Method = method;
            Affinity = affinity;
        }

        public string Method { get; private set; }

        /// <summary>The worker that must run the call, or null for the least loaded.</summary>
        public WorkerProcess Affinity { get; private set; }

        /// <summary>Its place in the queue while queued (guarded by the pool's lock).</summary>
        public LinkedListNode<PoolCall> Node;

        /// <summary>True while it holds one unit of queue room (released when it leaves the queue).</summary>
        public bool HoldsQueueRoom;

        public bool IsFinished
        {
            get { return Volatile.Read(ref _finished) != 0; }
        }

        protected bool TryFinish()
        {
            return Interlocked.Exchange(ref _finished, 1) == 0;
        }

        /// <summary>Run on <paramref name="worker"/>; report to the scheduler when done.</summary>
        public abstract void Start(WorkerSlot slot, WorkerProcess worker);

        /// <summary>End the call without running it (pool stopped, its worker gone).</summary>
        public abstract void Fail(Exception error);

        /// <summary>The caller's token (the call's timeout is <see cref="TimeLeft"/>).</summary>
        public abstract CancellationToken CallerToken { get; }

        /// <summary>What is left of the call's timeout, counted from its admission; infinite without one.</summary>
        public abstract TimeSpan TimeLeft { get; }

        /// <summary>Cancelled by its caller, or out of time.</summary>
        public bool IsDue
        {
            get { return CallerToken.IsCancellationRequested || TimeLeft == TimeSpan.Zero; }
        }

        /// <summary>
        /// Called once it waits in the queue: end it if its token fires or its time runs out while it waits. A call that
        /// goes straight to a worker never pays for this; its worker call watches the token and the time left.
        /// </summary>
        public abstract void WatchWhileQueued();

        /// <summary>End a call that is not running because its token fired: cancelled, or timed out.</summary>
        public abstract void EndAsCancelledOrTimedOut();
    }

    internal sealed class PoolCall<T> : PoolCall
    {
        // Not RunContinuationsAsynchronously: see Settle. A call that ends on its worker is settled on the reader or a
        // pool thread already, and a second hand-off there cost as much as the rest of the pool's work for a call together.
        private static readonly TimeSpan OneMillisecond = TimeSpan.FromMilliseconds(1);
        private readonly TaskCompletionSource<T> _completion = new TaskCompletionSource<T>();
        private readonly ICallScheduler _scheduler;
        private readonly Invocation<T> _invocation;
        private readonly CancellationToken _callerToken;
        private readonly TimeSpan _timeout;
        private readonly long _admitted;  // Stopwatch timestamp, for TimeLeft
        private QueueWatch _queueWatch;  // while queued; QueueWatch.Ended once the call has ended
        private int _attempts;

        public PoolCall(ICallScheduler scheduler, Invocation<T> invocation, TimeSpan timeout, CancellationToken callerToken)
            : base(invocation.Method, invocation.Affinity)
        {
            // No token source, registration or timer of its own: on the hot path (a worker free) they cost a pool call
            // twice what the rest of its work does. The worker call watches the caller's token and the time left.
            _scheduler = scheduler;
            // A copy: a caller may reuse and change its Invocation while the call waits, and routing read this one.
            _invocation = invocation.WithTimeout(Timeout.InfiniteTimeSpan);
            _timeout = timeout;
            _callerToken = callerToken;
            _admitted = Stopwatch.GetTimestamp();
        }

        public Task<T> Task
        {
            get { return _completion.Task; }
        }

        public override CancellationToken CallerToken
        {
            get { return _callerToken; }
        }

        public override TimeSpan TimeLeft
        {
            get
            {
                if (_timeout == Timeout.InfiniteTimeSpan) return Timeout.InfiniteTimeSpan;
                // In ticks (FromSeconds rounds to the millisecond), and under a millisecond counts as none: the worker
                // call's timer, set to what was left, must find nothing left when it fires (see Ended).
                var elapsed = (Stopwatch.GetTimestamp() - _admitted) * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency);
                var left = TimeSpan.FromTicks(_timeout.Ticks - (long)elapsed);
                return left >= OneMillisecond ? left : TimeSpan.Zero;
            }
        }

        public override void WatchWhileQueued()
        {
            if (Volatile.Read(ref _queueWatch) != null) return;  // queued before (a retry), or ended
            var left = TimeLeft;
            var watch = new QueueWatch();
            if (Interlocked.CompareExchange(ref _queueWatch, watch, null) != null) return;
            // Either may fire at once, inside these calls: the call is queued already, so withdrawing it works.
            if (left != Timeout.InfiniteTimeSpan) watch.Deadline = Deadlines.Shared.Schedule(left, OnDueWhileQueued);
            if (_callerToken.CanBeCanceled) watch.Registration = _callerToken.Register(OnDueWhileQueued);
            // Ended meanwhile: nothing else will release them. A full fence (the exchange in Dispose is one too), so that
            // the stores above are seen by Dispose or this sees its exchange.
            if (Interlocked.CompareExchange(ref _queueWatch, watch, watch) != watch) watch.Dispose();
        }

        public override void Start(WorkerSlot slot, WorkerProcess worker)
        {
            Run(slot, worker);
        }

        public override void Fail(Exception error)
        {
            if (!TryFinish()) return;
            // Counted before completing, so a caller that sees its result sees it counted too.
            _scheduler.Count(PoolCallOutcome.Failed);
            Settle(c => c.TrySetException(error));
            Dispose();
        }

        /// <summary>The caller's token fired, or the time ran out, while the call was queued, waiting for room or running.</summary>
        public override void EndAsCancelledOrTimedOut()
        {
            if (!TryFinish()) return;
            if (_callerToken.IsCancellationRequested)
            {
                _scheduler.Count(PoolCallOutcome.Cancelled);
                Settle(c => c.TrySetCanceled(_callerToken));
            }
            else
            {
                _scheduler.Count(PoolCallOutcome.TimedOut);
                var timedOut = new CallTimeoutException(Method, _timeout, "queued or running in the pool");
                Settle(c => c.TrySetException(timedOut));
            }
            Dispose();
        }

        private void OnDueWhileQueued()
        {
            // A call started meanwhile ends through its worker call, which watches the same token and time.
            if (_scheduler.Withdraw(this)) EndAsCancelledOrTimedOut();
        }

        private void Run(WorkerSlot slot, WorkerProcess worker)
        {
            if (worker.IsEnding && Affinity == null)
            {
                // Its worker began to end after the call was routed there: nothing was sent, so it goes
                // back to the queue whether or not it is safe to retry.
                _scheduler.Finished(this, slot, true);
                return;
            }
            _attempts++;
            var left = TimeLeft;
            if (left == TimeSpan.Zero || _callerToken.IsCancellationRequested)
            {
                _scheduler.Finished(this, slot, false);
                EndAsCancelledOrTimedOut();
                return;
            }
            // The worker call keeps the pool's clock (what is left of it) and the caller's token.
            var running = worker.InvokeAsync(_invocation.WithTimeout(left), _callerToken);
            if (running.IsCompleted)
            {
                // Still inside whoever started it (a pump, with other calls to start).
                Ended(slot, worker, running, false);
                return;
            }
            // Resumed where the worker call ends: on the connection's reader handing out the answer, or on the thread
            // pool. Not an async method: its state machine and the execution context it captures and restores cost a
            // pool call as much as the rest of its own work (the caller's own await flows the caller's context).
            running.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => EndedSafely(slot, worker, running));
        }

        /// <summary>
        /// <see cref="Ended"/> as a continuation: it runs inside whoever completed the worker call (the connection's
        /// reader, handing out an answer), which must not see an exception of ours. None is expected; should one come,
        /// the caller still gets an outcome.
        /// </summary>
        private void EndedSafely(WorkerSlot slot, WorkerProcess worker, Task<T> running)
        {
            try
            {
                Ended(slot, worker, running, true);
            }
            catch (Exception e)
            {
                FailWith(new InvalidOperationException(Method + ": the pool failed to settle the call: " + e.Message, e), false);
            }
        }

        /// <summary>The worker call ended: settle the call, or send it again (see <see cref="WhyNotRetried"/>).</summary>
        private void Ended(WorkerSlot slot, WorkerProcess worker, Task<T> running, bool resumed)
        {
            // The outcome is settled first and handed to the caller last: the slot is released in
            // between, so a caller holding its answer already sees the pool's counters account for it.
            T result = default(T);
            Exception error = null;
            bool succeeded = false, cancelled = false, retry = false;
            if (running.Status == TaskStatus.RanToCompletion)
            {
                result = running.Result;
                succeeded = true;
            }
            else if (running.IsCanceled)
            {
                cancelled = true;
            }
            else
            {
                error = running.Exception.InnerException;
                var crashed = error as WorkerCrashedException;
                if (error is OperationCanceledException || (error is CallTimeoutException && TimeLeft == TimeSpan.Zero))
                {
                    // The caller's token or the pool's clock, which the worker call kept: said as the pool says it. A
                    // CallTimeoutException with time left is someone else's (thrown while writing the params, say).
                    cancelled = true;
                }
                else if (crashed != null && _invocation.SafeToRetry && Affinity == null && _attempts == 1 && !_scheduler.Stopping
                    && !IsDue)
                {
                    var whyNot = WhyNotRetried(crashed.ExitInfo.Reason);
                    if (whyNot == null) retry = true;
                    else error = WorkerCrashedException.NotRetried(crashed.ExitInfo, Method, whyNot);
                }
                if (retry)
                {
                    _scheduler.Count(PoolCallOutcome.Retried);
                    worker.Events.Emit(Diagnostics.HostEventKind.Retried, Diagnostics.HostEventLevel.Information, worker.ProcessId,
                        Method + " sent again to another worker (SafeToRetry): its " + crashed.ExitInfo.Summary);
                }
            }
            _scheduler.Finished(this, slot, retry);
            if (retry) return;
            // Released before the outcome is handed over: the caller's continuation may run here, inline.
            Dispose();
            bool inline = resumed && (Thread.CurrentThread.IsThreadPoolThread || Protocol.RpcConnection.OnDispatchingReader);
            if (succeeded) Succeed(result, inline);
            else if (cancelled) EndAsCancelledOrTimedOut();
            else FailWith(error, inline);
        }

        /// <summary>
        /// Null when a call safe to retry may run again after its worker ended this way: the worker crashed, exited
        /// or was killed on request, none of which the call can have caused by being slow. Otherwise the reason it may
        /// not: a call that hung its worker, or whose answer broke the protocol, would take a second worker down.
        /// </summary>
        private static string WhyNotRetried(WorkerExitReason reason)
        {
            switch (reason)
            {
                case WorkerExitReason.Exited:
                case WorkerExitReason.Killed:
                    return null;
                case WorkerExitReason.Unresponsive:
                    return "its worker was killed as hung, and the call may be what hung it";
                case WorkerExitReason.ProtocolError:
                    return "its worker broke the protocol, and the call may be what broke it";
                default:
                    return "its worker was stopped";
            }
        }

        private void Succeed(T result, bool inline)
        {
            if (!TryFinish()) return;
            _scheduler.Count(PoolCallOutcome.Succeeded);
            if (inline) _completion.TrySetResult(result);
            else Settle(c => c.TrySetResult(result));
        }

        private void FailWith(Exception error, bool inline)
        {
            if (!TryFinish()) return;
            _scheduler.Count(PoolCallOutcome.Failed);
            if (inline) _completion.TrySetException(error);
            else Settle(c => c.TrySetException(error));
        }

        /// <summary>
        /// Hand an outcome to the caller through the thread pool. Continuations run inline only where
        /// <see cref="Ended"/> settles a call on the thread it resumed on after its worker call: the connection's
        /// reader handing out the answer (watched by <see cref="Protocol.ReaderWatch"/>), or a pool thread. Anywhere
        /// else (a token's callback inside a caller's Cancel(), a timer, a stopping pool, a pump starting other calls)
        /// no caller's code may run inside ours.
        /// </summary>
        private void Settle(Action<TaskCompletionSource<T>> outcome)
        {
            _completion.SettleOnThreadPool(outcome);
        }

        /// <summary>Release what watched the call while it was queued (and keep anything from watching it later).</summary>
        private void Dispose()
        {
            var watch = Interlocked.Exchange(ref _queueWatch, QueueWatch.Ended);
            if (watch != null) watch.Dispose();
        }

        /// <summary>The timer and the token registration of a queued call.</summary>
        private sealed class QueueWatch : IDisposable
        {
            public static readonly QueueWatch Ended = new QueueWatch();

            public Deadline Deadline;
            public CancellationTokenRegistration Registration;

            public void Dispose()
            {
                if (Deadline != null) Deadline.Dispose();
                Registration.Dispose();
            }
        }
    }
}
