using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using NUnit.Framework;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// What the abandoned-work specs wait on: a <c>test/hang</c>'s report that it runs, and the host events
    /// <see cref="HostEventKind.CallAbandoned"/> and <see cref="HostEventKind.AbandonedCallStopped"/>.
    /// </summary>
    internal static class AbandonedWork
    {
        /// <summary>Params of a <c>test/hang</c> that ignores cancellation until <c>test/release</c> with <paramref name="key"/>.</summary>
        public static Dictionary<string, object> Hang(string key)
        {
            return Params.Of("release", key);
        }

        public static string NewKey()
        {
            return "hang-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        }
    }

    /// <summary>Completes on the first progress report (a <c>test/hang</c> sends one just before it begins), synchronously.</summary>
    internal sealed class FirstReport : IProgress<object>
    {
        private readonly TaskCompletionSource<object> _first = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<object> Task
        {
            get { return _first.Task; }
        }

        public void Report(object value)
        {
            _first.TrySetResult(value);
        }
    }

    /// <summary>Host events, kept in order, with a wait for the first that matches (hand <see cref="Add"/> to OnHostEvent).</summary>
    internal sealed class HostEventLog
    {
        private readonly object _lock = new object();
        private readonly List<HostEvent> _events = new List<HostEvent>();
        private readonly List<Tuple<Func<HostEvent, bool>, TaskCompletionSource<HostEvent>>> _waiting =
            new List<Tuple<Func<HostEvent, bool>, TaskCompletionSource<HostEvent>>>();

        public void Add(HostEvent e)
        {
            List<TaskCompletionSource<HostEvent>> matched;
            lock (_lock)
            {
                _events.Add(e);
                matched = _waiting.Where(w => w.Item1(e)).Select(w => w.Item2).ToList();
                _waiting.RemoveAll(w => matched.Contains(w.Item2));
            }
            foreach (var waiter in matched) waiter.TrySetResult(e);
        }

        public HostEvent[] Of(HostEventKind kind)
        {
            lock (_lock) return _events.Where(e => e.Kind == kind).ToArray();
        }

        /// <summary>The first event of <paramref name="kind"/> from process <paramref name="pid"/>, past or future; fails the spec when none comes in time.</summary>
        public async Task<HostEvent> First(HostEventKind kind, int pid, TimeSpan within)
        {
            Func<HostEvent, bool> match = e => e.Kind == kind && e.ProcessId == pid;
            var waiter = new TaskCompletionSource<HostEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                var seen = _events.FirstOrDefault(match);
                if (seen != null) return seen;
                _waiting.Add(Tuple.Create(match, waiter));
            }
            if (await Task.WhenAny(waiter.Task, Task.Delay(within)) != waiter.Task)
            {
                string events;
                lock (_lock) events = string.Join(Environment.NewLine, _events.Select(e => e.Kind + " " + e.ProcessId + ": " + e.Message));
                Assert.Fail("no " + kind + " from worker " + pid + " within " + within.TotalSeconds + " s; host events:" + Environment.NewLine + events);
            }
            return await waiter.Task;
        }
    }
}
