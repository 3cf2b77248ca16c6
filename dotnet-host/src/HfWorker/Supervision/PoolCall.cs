using System;
using System.Collections.Generic;
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

        /// <summary>Cancelled by the caller or by the call's timeout.</summary>
        public abstract CancellationToken Token { get; }

        /// <summary>End a call that is not running because its token fired: cancelled, or timed out.</summary>
        public abstract void EndAsCancelledOrTimedOut();
    }

    internal sealed class PoolCall<T> : PoolCall
    {
        // Not RunContinuationsAsynchronously: see Settle. A call that ends on its worker is settled on the reader or a
        // pool thread already, and a second hand-off there cost as much as the rest of the pool's work for a call together.
        private readonly TaskCompletionSource<T> _completion = new TaskCompletionSource<T>();
        private readonly ICallScheduler _scheduler;
        private readonly Invocation<T> _invocation;
        private readonly CancellationToken _callerToken;
        private readonly TimeSpan _timeout;
        private readonly CancellationTokenSource _limit;
        private readonly CancellationToken _token;
        private readonly Deadline _deadline;
        private CancellationTokenRegistration _registration;
        private int _attempts;

        public PoolCall(ICallScheduler scheduler, Invocation<T> invocation, TimeSpan timeout, CancellationToken callerToken)
            : base(invocation.Method, invocation.Affinity)
        {
            _scheduler = scheduler;
            // The pool owns the timeout: the worker must not start a second clock.
            _invocation = invocation.WithoutTimeout();
            _timeout = timeout;
            _callerToken = callerToken;
            _limit = CancellationTokenSource.CreateLinkedTokenSource(callerToken);
            // Kept: the source is disposed when the call ends, and a queue may still look at the token after that.
            _token = _limit.Token;
            if (timeout != Timeout.InfiniteTimeSpan) _deadline = Deadlines.Shared.Schedule(timeout, ReachTimeout);
            _registration = _limit.Token.Register(OnLimitReached);
        }

        public Task<T> Task
        {
            get { return _completion.Task; }
        }

        /// <summary>Cancelled by the caller or by the timeout.</summary>
        public override CancellationToken Token
        {
            get { return _token; }
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

        /// <summary>The caller's token or the timeout fired while the call was queued or waiting for room.</summary>
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
            // No Dispose here: this may run inside the token's own callback.
        }

        private void ReachTimeout()
        {
            try
            {
                _limit.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The call ended while its deadline was on its way.
            }
        }

        private void OnLimitReached()
        {
            // Running calls end through their worker call, which watches the same token.
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
            var running = worker.InvokeAsync(_invocation, _limit.Token);
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
                if (error is OperationCanceledException)
                {
                    cancelled = true;
                }
                else if (crashed != null && _invocation.SafeToRetry && Affinity == null && _attempts == 1 && !_scheduler.Stopping
                    && !_limit.IsCancellationRequested)
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
            ThreadPool.UnsafeQueueUserWorkItem(state => outcome((TaskCompletionSource<T>)state), _completion);
        }

        private void Dispose()
        {
            if (_deadline != null) _deadline.Dispose();
            _registration.Dispose();
            _limit.Dispose();
        }
    }
}
