using System;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker
{
    /// <summary>How a worker's end is noticed, explained and settled: the other half of <see cref="WorkerProcess"/>.</summary>
    public sealed partial class WorkerProcess
    {
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
