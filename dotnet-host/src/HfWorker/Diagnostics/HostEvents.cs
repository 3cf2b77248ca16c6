using System;
using HfWorker.Launch;

namespace HfWorker.Diagnostics
{
    /// <summary>Where a worker's <see cref="HostEvent"/>s go: its stderr tail (as a <c>[host]</c> line) and the application's callback.</summary>
    internal sealed class HostEvents
    {
        private readonly Action<HostEvent> _callback;
        private readonly StderrTail _tail;

        public HostEvents(Action<HostEvent> callback, StderrTail tail)
        {
            _callback = callback;
            _tail = tail;
        }

        /// <summary>The pool slot events are tagged with; -1 outside a pool.</summary>
        public int Slot = -1;

        public void Emit(HostEventKind kind, HostEventLevel level, int processId, string message)
        {
            if (_tail != null) _tail.Add("[host] " + message);
            var callback = _callback;
            if (callback == null) return;
            try
            {
                callback(new HostEvent(kind, level, processId, Slot, message));
            }
            catch (Exception e)
            {
                // The application's logger must never break supervision; its failure is kept where exit reports show it.
                if (_tail != null) _tail.Add("[host] the OnHostEvent callback threw " + e.GetType().Name + ": " + e.Message);
            }
        }
    }
}
