using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using NUnit.Framework;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// Host events (hand <see cref="Add"/> to <see cref="WorkerProcessOptions.OnHostEvent"/>, a pool's workers' too),
    /// kept in order, with a way to wait for the first that matches: specs wait for the event that proves the point.
    /// </summary>
    internal sealed class HostEventWatch
    {
        private readonly object _lock = new object();
        private readonly List<HostEvent> _events = new List<HostEvent>();
        private readonly List<KeyValuePair<Func<HostEvent, bool>, TaskCompletionSource<HostEvent>>> _waiters =
            new List<KeyValuePair<Func<HostEvent, bool>, TaskCompletionSource<HostEvent>>>();

        public void Add(HostEvent e)
        {
            List<TaskCompletionSource<HostEvent>> matched;
            lock (_lock)
            {
                _events.Add(e);
                matched = _waiters.Where(w => w.Key(e)).Select(w => w.Value).ToList();
                _waiters.RemoveAll(w => matched.Contains(w.Value));
            }
            foreach (var waiter in matched) waiter.TrySetResult(e);
        }

        public HostEvent[] All
        {
            get
            {
                lock (_lock) return _events.ToArray();
            }
        }

        public HostEvent[] Of(HostEventKind kind, HostEventLevel level)
        {
            return All.Where(e => e.Kind == kind && e.Level == level).ToArray();
        }

        public HostEvent[] Of(HostEventKind kind)
        {
            return All.Where(e => e.Kind == kind).ToArray();
        }

        /// <summary>The first event of <paramref name="kind"/> from process <paramref name="pid"/>, past or future; fails the spec when none comes in time.</summary>
        public Task<HostEvent> First(HostEventKind kind, int pid, TimeSpan within)
        {
            return First(e => e.Kind == kind && e.ProcessId == pid, within, kind + " from worker " + pid);
        }

        /// <summary>The first event, past or future, that matches; fails the spec when none comes within <paramref name="within"/>.</summary>
        public async Task<HostEvent> First(Func<HostEvent, bool> match, TimeSpan within, string what)
        {
            var waiter = new TaskCompletionSource<HostEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                var seen = _events.FirstOrDefault(match);
                if (seen != null) return seen;
                _waiters.Add(new KeyValuePair<Func<HostEvent, bool>, TaskCompletionSource<HostEvent>>(match, waiter));
            }
            if (await Task.WhenAny(waiter.Task, Task.Delay(within)) != waiter.Task)
            {
                Assert.Fail("no " + what + " within " + within.TotalSeconds + " s; host events:" + Environment.NewLine + Show());
            }
            return await waiter.Task;
        }

        public string Show()
        {
            return string.Join(Environment.NewLine, All.Select(e => e.ToString()));
        }
    }
}
