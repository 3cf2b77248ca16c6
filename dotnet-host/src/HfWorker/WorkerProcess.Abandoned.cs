using System;
using System.Globalization;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;  // for the class comment's crefs, which mcs resolves in the first partial file it reads
using HfWorker.Protocol;

namespace HfWorker
{
    // Work a worker still does for calls nobody waits for: the part of WorkerProcess that counts it.
    public sealed partial class WorkerProcess
    {
        /// <summary>
        /// Calls this host no longer waits for whose work may still be running in the worker, so the worker is
        /// busier than <see cref="InFlight"/> says. A call counts from the moment it is cancelled or times out
        /// until the worker shows its work has stopped. The worker's -32800 says <c>handler_running</c> whenever the
        /// call's handler had started (even one that stops at its next check, moments later; a forward pass that
        /// cannot be interrupted or a method that ignores cancellation runs on), and the call then counts until
        /// <c>worker/handlerDone</c> for it; only a call whose handler had not begun stops counting with its answer.
        /// Requests a worker's shutdown cancelled while their handler ran count the same way. A cancelled call
        /// not answered yet counts here and in <see cref="InFlight"/>. 0 once the worker has exited. A pool counts these in its routing and <see cref="WorkerPoolOptions.MaxCallsPerWorker"/>.
        /// </summary>
        public int AbandonedCalls
        {
            get
            {
                var connection = _connection;
                return connection == null || HasExited ? 0 : connection.AbandonedCalls;
            }
        }

        /// <summary>Raised (on the connection's reader) when <see cref="AbandonedCalls"/> went down; a pool pumps its queue on it.</summary>
        internal event Action<WorkerProcess> AbandonedWorkStopped;

        private void OnAbandonedCallChanged(AbandonedCallChange change)
        {
            string call = change.Method + " (request " + change.Id.ToString(CultureInfo.InvariantCulture) + ")";
            if (!change.Stopped)
            {
                Events.Emit(HostEventKind.CallAbandoned, HostEventLevel.Information, ProcessId,
                    call + " still runs in worker " + ProcessId + " after its -32800; the worker counts as busy with it until it stops ("
                    + change.Count + " abandoned now)");
                return;
            }
            if (change.SecondsAfterAnswer.HasValue)
            {
                Events.Emit(HostEventKind.AbandonedCallStopped, HostEventLevel.Information, ProcessId,
                    call + " stopped in worker " + ProcessId + " " + change.SecondsAfterAnswer.Value.ToString("0.0##", CultureInfo.InvariantCulture)
                    + " s after its -32800 (worker/handlerDone); " + change.Count + " abandoned left");
            }
            var stopped = AbandonedWorkStopped;
            if (stopped != null) stopped(this);
        }
    }
}
