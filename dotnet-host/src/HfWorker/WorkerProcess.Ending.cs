using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker
{
    /// <summary>How a worker is stopped or killed, and how its end is noticed, explained and settled: the other half of <see cref="WorkerProcess"/>.</summary>
#if HFWORKER_ASYNC_INTERFACES
    public sealed partial class WorkerProcess : IAsyncDisposable
#else
    public sealed partial class WorkerProcess
#endif
    {
        /// <summary>How long Dispose waits for the worker to stop at once before it kills the whole tree.</summary>
        internal static readonly TimeSpan DisposeKillAfter = TimeSpan.FromSeconds(2);

        /// <summary>How long Dispose then waits for the end to be settled (reaped, last frames read) before it returns regardless.</summary>
        internal static readonly TimeSpan DisposeSettleWait = TimeSpan.FromSeconds(1);

        private int _killReported;

        // ---- stopping ------------------------------------------------------------------------------

        /// <summary>
        /// Stop gracefully: <c>worker/shutdown</c> with the grace period (default
        /// <see cref="WorkerProcessOptions.ShutdownGracePeriod"/>), which finishes calls in flight and
        /// cancels those still running at its end; a kill of the whole process tree follows if the process is
        /// still there 5 seconds later.
        /// </summary>
        public Task<WorkerExitInfo> StopAsync(TimeSpan? gracePeriod = null)
        {
            return StopWithinAsync(gracePeriod ?? _options.ShutdownGracePeriod, KillAfterGrace, "after the grace period of worker/shutdown");
        }

        /// <summary>Stop at once (no grace: calls in flight are cancelled), killing the tree if it is still there <see cref="DisposeKillAfter"/> later: what Dispose does.</summary>
        internal Task<WorkerExitInfo> StopQuicklyAsync()
        {
            return StopWithinAsync(TimeSpan.Zero, DisposeKillAfter, "after Dispose asked it to stop at once");
        }

        private async Task<WorkerExitInfo> StopWithinAsync(TimeSpan grace, TimeSpan killAfter, string after)
        {
            if (HasExited) return _exited.Task.Result;
            var deadline = Stopwatch.StartNew();
            var limit = grace + killAfter;
            SetHostReason(WorkerExitReason.Stopped, null, false);
            var parameters = new Dictionary<string, object> { { "grace_seconds", grace.TotalSeconds } };
            var shutdown = new Invocation<object>("worker/shutdown", parameters, reader => reader.ReadValue()) { Timeout = limit };
            try
            {
                await InvokeAsync(shutdown).ConfigureAwait(false);
            }
            catch (HfWorkerException)
            {
                // Gone already, or frozen and not answering: the deadline below settles it.
            }
            var left = limit - deadline.Elapsed;
            if (left > TimeSpan.Zero) await _exited.Task.EndsWithin(left).ConfigureAwait(false);
            if (!HasExited) KillWith(WorkerExitReason.Killed, "still running " + CallTimeoutException.Format(killAfter) + " " + after, true);
            return await _exited.Task.ConfigureAwait(false);
        }

        /// <summary>Kill the process and every process it started, at once. Its calls fail with <see cref="WorkerCrashedException"/>.</summary>
        public void Kill()
        {
            KillWith(WorkerExitReason.Killed, "WorkerProcess.Kill was called");
        }

        /// <summary>
        /// Stop at once and return within about 3 seconds whatever the worker does: <c>worker/shutdown</c>
        /// with no grace period (calls in flight are cancelled and fail), then, if the process is still
        /// there 2 seconds later (frozen, stopped, deaf to cancellation), the whole process tree is killed;
        /// Dispose waits at most 1 second more for that end to be settled. Use <see cref="StopAsync"/> (or
        /// DisposeAsync, where the platform has <c>IAsyncDisposable</c>) to let calls in flight finish.
        /// </summary>
        public void Dispose()
        {
            if (_process == null || HasExited) return;
            var stopping = StopQuicklyAsync();
            Protocol.RpcConnection.BeforeBlocking();
            try
            {
                stopping.Wait(DisposeKillAfter + DisposeSettleWait);
            }
            catch (AggregateException)
            {
                // Stopping never fails in a way the caller of Dispose could act on.
            }
            // Only a thread pool too busy to run the stop gets here: the kill must not wait for it.
            if (IsAlive()) KillWith(WorkerExitReason.Killed, "still running when Dispose gave up waiting", true);
        }

#if HFWORKER_ASYNC_INTERFACES
        /// <summary>
        /// Stop gracefully, as <see cref="StopAsync"/> with the default grace period: calls in flight finish
        /// (or are cancelled at the end of <see cref="WorkerProcessOptions.ShutdownGracePeriod"/>), the
        /// process exits, and the whole tree is killed if it is still there 5 seconds later.
        /// </summary>
        public ValueTask DisposeAsync()
        {
            if (_process == null) return default(ValueTask);
            return new ValueTask(StopAsync());
        }
#endif

        /// <summary>
        /// End the process and every process it started, with a reason the exit report will give; a running
        /// stop's reason wins unless <paramref name="overrideStop"/>. The first kill of a live process is
        /// reported as a <see cref="Diagnostics.HostEventKind.Killed"/> host event naming who killed it and why.
        /// </summary>
        internal void KillWith(WorkerExitReason reason, string detail, bool overrideStop = false)
        {
            SetHostReason(reason, detail, overrideStop);
            if (IsAlive() && Interlocked.Exchange(ref _killReported, 1) == 0)
            {
                // Before the signal, so that it comes before the WorkerExited the kill leads to.
                Events.Emit(Diagnostics.HostEventKind.Killed,
                    reason == WorkerExitReason.Killed ? Diagnostics.HostEventLevel.Warning : Diagnostics.HostEventLevel.Error,
                    ProcessId, "killing worker " + ProcessId + " (" + KillerOf(reason) + "): " + detail);
            }
            // The whole tree: processes the worker started would otherwise outlive it.
            if (_tree != null) _tree.KillAll();
            try
            {
                if (_process != null && !_process.HasExited) _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // It exited meanwhile.
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Exiting while we tried; the exit is noticed all the same.
            }
            if (_process != null)
            {
                BeginTermination();
                return;
            }
            // Nothing ever ran (no interpreter, say): only what the start made before it is left to close (a pipe).
            DisposeResources();
            _exited.TrySetResult(NewExitInfo(null));
        }

        private bool IsAlive()
        {
            try
            {
                return _process != null && !_process.HasExited;
            }
            catch (InvalidOperationException)
            {
                // Its handle is closed: it ended and was settled.
                return false;
            }
        }

        private static string KillerOf(WorkerExitReason reason)
        {
            switch (reason)
            {
                case WorkerExitReason.Unresponsive: return "the pool's health check: hung";
                case WorkerExitReason.ProtocolError: return "the host: protocol error";
                default: return "the host";
            }
        }

        // ---- ending --------------------------------------------------------------------------------

        private void OnStreamEnded(Exception error)
        {
            if (error is ProtocolException)
            {
                KillWith(WorkerExitReason.ProtocolError, error.Message);
            }
            _streamEnded.TrySetResult(true);
            BeginTermination();
        }

        private void SetHostReason(WorkerExitReason reason, string detail, bool overrideStop)
        {
            lock (_reasonLock)
            {
                if (_hostReason.HasValue && !(overrideStop && _hostReason.Value == WorkerExitReason.Stopped)) return;
                _hostReason = reason;
                _hostDetail = detail;
            }
        }

        private void BeginTermination()
        {
            if (Interlocked.Exchange(ref _terminating, 1) != 0) return;
            Task.Run(() => TerminateAsync()).Forget();
        }

        /// <summary>
        /// Runs once, whichever sign of the end came first (process exit, end of stream, a kill). Waits,
        /// each wait bounded, for the process to be reaped, the last frames to be read (a response
        /// written just before exiting still counts) and stderr to be drained, then fails what is left.
        /// </summary>
        private async Task TerminateAsync()
        {
            WorkerExitInfo info = null;
            try
            {
                if (!await WaitForProcessExitAsync(StreamEndWait).ConfigureAwait(false))
                {
                    KillWith(WorkerExitReason.ProtocolError, "the connection ended but the process kept running");
                    await WaitForProcessExitAsync(KillAfterGrace).ConfigureAwait(false);
                }
                // Whatever the worker started dies with it, however it ended (its children would otherwise
                // be orphans nobody owns, holding the worker's stderr open).
                if (_tree != null) _tree.KillAll();
                // A process that died has closed its end; only a surviving child holding it could delay this.
                await _streamEnded.Task.EndsWithin(StreamEndWait).ConfigureAwait(false);
                await Task.WhenAll(_stderrDone, _stdoutDone).EndsWithin(StderrDrainWait).ConfigureAwait(false);
                int? exitCode = null;
                try
                {
                    if (_process.HasExited) exitCode = _process.ExitCode;
                }
                catch (InvalidOperationException)
                {
                }
                info = NewExitInfo(exitCode);
            }
            catch (Exception e)
            {
                info = NewExitInfo(null);
                Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Error, ProcessId, "error while ending the worker: " + e);
            }
            finally
            {
                var exitInfo = info ?? NewExitInfo(null);
                DisposeResources();
                // Before the exit is known: a pool's Restarting event follows it, never precedes it.
                Events.Emit(Diagnostics.HostEventKind.WorkerExited,
                    exitInfo.Unexpected ? Diagnostics.HostEventLevel.Warning : Diagnostics.HostEventLevel.Information,
                    ProcessId, exitInfo.Summary);
                // Exit first, then the calls: whoever catches a call's exception can already read ExitInfo.
                _exited.TrySetResult(exitInfo);
                if (_connection != null)
                {
                    _connection.Close(call => exitInfo.Unexpected
                        ? new WorkerCrashedException(exitInfo, call.Method)
                        : new WorkerExitedException(exitInfo, call.Method));
                }
                RaiseExited(exitInfo);
            }
        }

        private Task<bool> WaitForProcessExitAsync(TimeSpan timeout)
        {
            return Task.Run(() => _process.WaitForExit((int)timeout.TotalMilliseconds));
        }

        private WorkerExitInfo NewExitInfo(int? exitCode)
        {
            WorkerExitReason reason;
            string detail;
            lock (_reasonLock)
            {
                reason = _hostReason ?? WorkerExitReason.Exited;
                detail = _hostDetail;
            }
            return new WorkerExitInfo(ProcessId, exitCode, reason, detail, _stderr.Snapshot(), StartedAt, DateTimeOffset.Now);
        }

        private void RaiseExited(WorkerExitInfo info)
        {
            var handler = Exited;
            if (handler == null) return;
            try
            {
                handler(this, new WorkerExitedEventArgs(this, info));
            }
            catch (Exception)
            {
                // An observer's failure must not hide the exit from the others (the pool waits on the task).
            }
        }

        private void DisposeResources()
        {
            try
            {
                if (_pipe != null) _pipe.Dispose();
                if (_socketStreams != null) _socketStreams.Dispose();
                if (_tree != null) _tree.Dispose();
                if (_process != null)
                {
                    _process.StandardInput.Dispose();
                    _process.Dispose();
                }
            }
            catch (Exception)
            {
                // Closing handles of a process that is gone: nothing left to do.
            }
        }
    }
}
