using System;
using System.Threading;
using System.Threading.Tasks;

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
}
