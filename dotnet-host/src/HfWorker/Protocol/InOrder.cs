using System;
using System.Collections.Generic;

namespace HfWorker.Protocol
{
    /// <summary>
    /// Runs what it is given one at a time, in the order given, on the thread that gives it when nothing is running,
    /// or else on the thread already running (after what it runs now). Never waits: a thread that finds another at work
    /// queues its action and returns.
    /// </summary>
    /// <remarks>
    /// Why: a reader held up in a caller's code loses its turn to a new reader (<see cref="ReaderWatch"/>), which goes on
    /// handing out frames while the old one is still inside its own. What belongs together (one call's progress reports
    /// and then its result; the connection's notifications) goes through one of these, so the new reader queues it
    /// behind the held-up code instead of overtaking it. The actions given must not throw.
    /// </remarks>
    internal sealed class InOrder
    {
        private readonly Queue<Action> _waiting = new Queue<Action>();
        private bool _running;

        public void Run(Action action)
        {
            lock (_waiting)
            {
                if (_running)
                {
                    _waiting.Enqueue(action);
                    return;
                }
                _running = true;
            }
            while (true)
            {
                action();
                lock (_waiting)
                {
                    if (_waiting.Count == 0)
                    {
                        _running = false;
                        return;
                    }
                    action = _waiting.Dequeue();
                }
            }
        }
    }
}
