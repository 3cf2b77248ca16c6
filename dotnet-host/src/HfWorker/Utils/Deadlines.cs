using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace HfWorker.Utils
{
    /// <summary>
    /// Call timeouts on one timer, set to the earliest deadline. A timer per call (what
    /// <c>CancellationTokenSource.CancelAfter</c> makes) leaves Mono's timer list with an entry per call,
    /// which its scheduler thread re-sorts after every change; a process that exits during such a sort
    /// dies with Mono's "Failed to compare two elements" (the aborted sort), exit code 1, after its work
    /// is done. With one timer that list stays at one entry.
    /// </summary>
    internal sealed class Deadlines
    {
        public static readonly Deadlines Shared = new Deadlines();

        // Due far enough ahead to mean "never" without overflowing when added to a timestamp.
        private static readonly long Never = long.MaxValue / 4;

        private readonly object _lock = new object();
        private readonly SortedSet<Deadline> _pending = new SortedSet<Deadline>(new DueFirst());
        private readonly Timer _timer;
        private long _nextSequence;
        private long _timerDue = long.MaxValue;

        internal Deadlines()
        {
            _timer = new Timer(_ => Fire(), null, Timeout.Infinite, Timeout.Infinite);
        }

        /// <summary>Deadlines scheduled and neither run nor disposed.</summary>
        public int Pending
        {
            get
            {
                lock (_lock) return _pending.Count;
            }
        }

        /// <summary>
        /// Run <paramref name="callback"/> on the thread pool once <paramref name="after"/> has passed, unless
        /// the returned deadline is disposed first. A callback already on its way may still run after disposal.
        /// </summary>
        public Deadline Schedule(TimeSpan after, Action callback)
        {
            if (callback == null) throw new ArgumentNullException("callback");
            long delay = after <= TimeSpan.Zero ? 0 : (long)Math.Min(after.TotalSeconds * Stopwatch.Frequency, Never);
            lock (_lock)
            {
                var deadline = new Deadline(this, Stopwatch.GetTimestamp() + delay, _nextSequence++, callback);
                _pending.Add(deadline);
                if (deadline.Due < _timerDue) Arm(deadline.Due);
                return deadline;
            }
        }

        internal void Withdraw(Deadline deadline)
        {
            // The timer stays set: waking with nothing due only sets it again.
            lock (_lock) _pending.Remove(deadline);
        }

        private void Fire()
        {
            var due = new List<Deadline>();
            lock (_lock)
            {
                _timerDue = long.MaxValue;
                long now = Stopwatch.GetTimestamp();
                while (_pending.Count > 0 && _pending.Min.Due <= now)
                {
                    due.Add(_pending.Min);
                    _pending.Remove(_pending.Min);
                }
                if (_pending.Count > 0) Arm(_pending.Min.Due);
            }
            // Each on its own pool thread, as separate timers would: a callback that blocks (a cancel
            // written to a worker that reads nothing) must not hold back the other timeouts.
            foreach (var deadline in due) ThreadPool.UnsafeQueueUserWorkItem(Run, deadline);
        }

        private static void Run(object state)
        {
            ((Deadline)state).Callback();
        }

        private void Arm(long due)
        {
            _timerDue = due;
            long ticks = Math.Max(0, due - Stopwatch.GetTimestamp());
            // Rounded up, so that the timer never wakes before the deadline; Mono's timer takes at most 2^32 - 2 ms.
            long milliseconds = Math.Min((long)Math.Ceiling(ticks * 1000.0 / Stopwatch.Frequency), 4294967294L);
            _timer.Change(milliseconds, Timeout.Infinite);
        }

        private sealed class DueFirst : IComparer<Deadline>
        {
            public int Compare(Deadline x, Deadline y)
            {
                int byDue = x.Due.CompareTo(y.Due);
                return byDue != 0 ? byDue : x.Sequence.CompareTo(y.Sequence);
            }
        }
    }

    /// <summary>One scheduled callback of <see cref="Deadlines"/>; disposing it withdraws the callback.</summary>
    internal sealed class Deadline : IDisposable
    {
        private readonly Deadlines _owner;

        internal Deadline(Deadlines owner, long due, long sequence, Action callback)
        {
            _owner = owner;
            Due = due;
            Sequence = sequence;
            Callback = callback;
        }

        /// <summary>When it falls due, in <see cref="Stopwatch"/> ticks.</summary>
        public long Due { get; private set; }

        /// <summary>Order of scheduling: keeps deadlines due at the same tick apart.</summary>
        public long Sequence { get; private set; }

        public Action Callback { get; private set; }

        public void Dispose()
        {
            _owner.Withdraw(this);
        }
    }
}
