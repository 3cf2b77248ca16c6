using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Diagnostics;

namespace HfWorker.Tests.Support
{
    /// <summary>A synchronous progress sink: counts reports and completes <see cref="First"/> at the first, so a test can wait until a call is running.</summary>
    internal sealed class Reports : IProgress<object>
    {
        private readonly TaskCompletionSource<object> _first = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count;

        public Task<object> First
        {
            get { return _first.Task; }
        }

        public int Count
        {
            get { return Volatile.Read(ref _count); }
        }

        public void Report(object value)
        {
            Interlocked.Increment(ref _count);
            _first.TrySetResult(value);
        }
    }

    /// <summary>The host events a worker or a pool reported, in the order they came.</summary>
    internal sealed class HostEventRecorder
    {
        private readonly ConcurrentQueue<HostEvent> _events = new ConcurrentQueue<HostEvent>();

        public void Add(HostEvent e)
        {
            _events.Enqueue(e);
        }

        public HostEvent[] All
        {
            get { return _events.ToArray(); }
        }

        public string Show()
        {
            return string.Join(Environment.NewLine, Array.ConvertAll(All, e => e.ToString()));
        }
    }
}
