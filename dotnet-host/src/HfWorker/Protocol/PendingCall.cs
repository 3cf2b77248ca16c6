using System;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Utils;

namespace HfWorker.Protocol
{
    /// <summary>
    /// A request sent and not yet answered. It ends exactly once: with its result, with the worker's
    /// error, cancelled, timed out, or failed because the worker went away. A call cancelled by the host
    /// stays registered until the worker's own answer (-32800) arrives, because until then the worker
    /// is still busy with it.
    /// </summary>
    /// <remarks>
    /// Where the caller's continuation runs: an answer is handed over inline on the connection's reader (one thread hop
    /// less per call; <see cref="ReaderWatch"/> takes reading over from a reader the continuation holds up), a timeout
    /// on the thread pool thread its deadline fired on, and every other ending (a token's callback inside a caller's
    /// <c>Cancel()</c>, a closing connection) through the thread pool, so that no caller's code runs inside theirs.
    /// </remarks>
    internal abstract class PendingCall
    {
        private int _finished;

        protected PendingCall(long id, string method, WorkerProcess worker)
        {
            Id = id;
            Method = method;
            Worker = worker;
        }

        public long Id { get; private set; }

        public string Method { get; private set; }

        public WorkerProcess Worker { get; private set; }

        /// <summary>True once the caller has been given an outcome (the worker may still owe an answer).</summary>
        public bool Finished
        {
            get { return Volatile.Read(ref _finished) != 0; }
        }

        /// <summary>Claim the right to end the call; false if it has already ended.</summary>
        protected bool TryFinish()
        {
            return Interlocked.Exchange(ref _finished, 1) == 0;
        }

        /// <summary>End the call with the worker's result, read on this thread; called on the reader, and the caller's continuation runs here.</summary>
        public abstract void Complete(ArraySegment<byte> result);

        /// <summary>End the call with <paramref name="error"/>, its caller's continuation run on the thread pool.</summary>
        public void Fail(Exception error)
        {
            Fail(error, false);
        }

        /// <summary>End the call with <paramref name="error"/>; <paramref name="inline"/>: on this thread (the reader's).</summary>
        public abstract void Fail(Exception error, bool inline);

        public abstract void ReportProgress(ArraySegment<byte> value, Action<string> log);
    }

    internal sealed class PendingCall<T> : PendingCall
    {
        private readonly TaskCompletionSource<T> _completion = new TaskCompletionSource<T>();
        private readonly Invocation<T> _invocation;
        // For a call with progress: its reports and then its answer reach the caller in the order the worker sent them,
        // even when a new reader takes over from one held up in a progress handler. Null for the others: one answer.
        private readonly InOrder _inOrder;
        private const int NotArmed = 0, Armed = 1, Disarmed = 2;
        private CancellationTokenRegistration _cancelRegistration;
        private Deadline _timeout;
        private int _armed;

        public PendingCall(long id, Invocation<T> invocation, WorkerProcess worker) : base(id, invocation.Method, worker)
        {
            _invocation = invocation;
            if (invocation.Progress != null || invocation.ProgressReader != null) _inOrder = new InOrder();
        }

        public Task<T> Task
        {
            get { return _completion.Task; }
        }

        /// <summary>
        /// Start watching the caller's token and the call's timeout; <paramref name="sendCancel"/> tells the worker.
        /// Called once the request is queued (a cancel must not overtake it), so the answer may have come already:
        /// then whichever of Arm and <see cref="Disarm"/> comes last releases the registrations.
        /// </summary>
        public void Arm(CancellationToken cancellationToken, TimeSpan timeout, Action<long> sendCancel)
        {
            if (timeout != System.Threading.Timeout.InfiniteTimeSpan)
            {
                _timeout = Deadlines.Shared.Schedule(timeout, () =>
                {
                    if (!TryFinish()) return;
                    sendCancel(Id);
                    _completion.TrySetException(new CallTimeoutException(Method, timeout));
                });
            }
            if (cancellationToken.CanBeCanceled)
            {
                _cancelRegistration = cancellationToken.Register(() =>
                {
                    if (!TryFinish()) return;
                    sendCancel(Id);
                    _completion.SettleOnThreadPool(c => c.TrySetCanceled(cancellationToken));
                });
            }
            if (Interlocked.CompareExchange(ref _armed, Armed, NotArmed) == Disarmed) ReleaseRegistrations();
        }

        public override void Complete(ArraySegment<byte> result)
        {
            if (_inOrder != null) _inOrder.Run(() => CompleteNow(result));
            else CompleteNow(result);
        }

        private void CompleteNow(ArraySegment<byte> result)
        {
            if (!TryFinish()) return;
            Disarm();
            T value;
            try
            {
                value = _invocation.ReadResultOn(new MessagePackReader(result), Worker);
            }
            catch (Exception e)
            {
                _completion.TrySetException(new MessagePackException(Method + ": the result does not have the expected shape: " + e.Message, e));
                return;
            }
            _completion.TrySetResult(value);
        }

        public override void Fail(Exception error, bool inline)
        {
            // Only the worker's own error answer (inline, on the reader) waits behind the call's progress: a cancel, a
            // timeout or a closed connection ends the call for its caller at once, and later reports are dropped.
            if (inline && _inOrder != null) _inOrder.Run(() => FailNow(error, true));
            else FailNow(error, inline);
        }

        private void FailNow(Exception error, bool inline)
        {
            if (!TryFinish()) return;
            Disarm();
            if (inline) _completion.TrySetException(error);
            else _completion.SettleOnThreadPool(c => c.TrySetException(error));
        }

        public override void ReportProgress(ArraySegment<byte> value, Action<string> log)
        {
            if (_inOrder == null)
            {
                log(Method + ": a $/progress for a call that asked for none was ignored");
                return;
            }
            _inOrder.Run(() => ReportNow(value, log));
        }

        private void ReportNow(ArraySegment<byte> value, Action<string> log)
        {
            if (Finished) return;
            try
            {
                var reader = _invocation.ProgressReader;
                if (reader != null) reader(new MessagePackReader(value));
                var progress = _invocation.Progress;
                if (progress != null) progress.Report(new MessagePackReader(value).ReadValue());
            }
            catch (Exception e)
            {
                // A faulty progress handler must not take the connection's reader down with it.
                log(Method + ": the progress handler threw " + e.GetType().Name + ": " + e.Message);
            }
        }

        private void Disarm()
        {
            if (Interlocked.Exchange(ref _armed, Disarmed) == Armed) ReleaseRegistrations();
        }

        private void ReleaseRegistrations()
        {
            _cancelRegistration.Dispose();
            if (_timeout != null) _timeout.Dispose();
        }
    }
}
