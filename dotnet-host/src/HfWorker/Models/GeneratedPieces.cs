#if HFWORKER_ASYNC_INTERFACES
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Models
{
    /// <summary>
    /// The pieces of one generation as an <see cref="IAsyncEnumerable{T}"/>, written by hand because mcs has no
    /// async iterators. Each enumeration starts its own call; the pieces the worker streams are queued in the
    /// order they arrive and handed out by <see cref="IAsyncEnumerator{T}.MoveNextAsync"/>; leaving the loop
    /// early (the enumerator's DisposeAsync) or cancelling either token cancels the call on the worker.
    /// </summary>
    /// <remarks>
    /// The queue is unbounded on purpose: pieces are queued by the connection's reader thread, which reads every
    /// call's answers and so must never wait on one slow consumer. A generation is bounded by its
    /// max_new_tokens, so the queue is too.
    /// </remarks>
    internal sealed class GeneratedPieces : IAsyncEnumerable<string>
    {
        private readonly Func<IProgress<string>, CancellationToken, Task<string>> _start;
        private readonly CancellationToken _cancellationToken;

        /// <summary><paramref name="start"/> makes the call, reporting each piece to the progress it is given.</summary>
        public GeneratedPieces(Func<IProgress<string>, CancellationToken, Task<string>> start, CancellationToken cancellationToken)
        {
            _start = start;
            _cancellationToken = cancellationToken;
        }

        public IAsyncEnumerator<string> GetAsyncEnumerator(CancellationToken cancellationToken = default(CancellationToken))
        {
            return new Enumerator(_start, _cancellationToken, cancellationToken);
        }

        private sealed class Enumerator : IAsyncEnumerator<string>
        {
            private readonly object _lock = new object();
            private readonly Queue<string> _pieces = new Queue<string>();
            private readonly CancellationTokenSource _stop;
            private readonly Task<string> _call;
            private TaskCompletionSource<bool> _wakeUp;
            private bool _callEnded;

            public Enumerator(Func<IProgress<string>, CancellationToken, Task<string>> start, CancellationToken first, CancellationToken second)
            {
                _stop = CancellationTokenSource.CreateLinkedTokenSource(first, second);
                Task<string> call;
                try
                {
                    call = start(new Sink(this), _stop.Token);
                }
                catch (Exception e)
                {
                    var failed = new TaskCompletionSource<string>();
                    failed.SetException(e);
                    call = failed.Task;
                }
                _call = call;
                // The worker sends every piece before its answer, and the reader reports them before it completes
                // the call: once the call has ended, every piece is in the queue.
                _call.ContinueWith(_ => Wake(true), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            public string Current { get; private set; }

            public ValueTask<bool> MoveNextAsync()
            {
                Task<bool> wakeUp;
                lock (_lock)
                {
                    if (_pieces.Count > 0)
                    {
                        Current = _pieces.Dequeue();
                        return new ValueTask<bool>(true);
                    }
                    if (_callEnded) return new ValueTask<bool>(EndAsync());
                    if (_wakeUp == null) _wakeUp = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    wakeUp = _wakeUp.Task;
                }
                return new ValueTask<bool>(MoveNextAfterAsync(wakeUp));
            }

            public ValueTask DisposeAsync()
            {
                return new ValueTask(DisposeCoreAsync());
            }

            private async Task<bool> MoveNextAfterAsync(Task<bool> wakeUp)
            {
                await wakeUp.ConfigureAwait(false);
                return await MoveNextAsync().ConfigureAwait(false);
            }

            /// <summary>No piece left: false when the generation completed, its exception (or cancellation) otherwise.</summary>
            private async Task<bool> EndAsync()
            {
                await _call.ConfigureAwait(false);
                return false;
            }

            private async Task DisposeCoreAsync()
            {
                bool ended;
                lock (_lock) ended = _callEnded;
                // Left the loop before the end: stop the generation on the worker rather than let it run on.
                if (!ended) _stop.Cancel();
                try
                {
                    await _call.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Cancelled just now, or failed: the caller left the loop and no longer wants either.
                }
                _stop.Dispose();
            }

            private void Add(string piece)
            {
                lock (_lock) _pieces.Enqueue(piece);
                Wake(false);
            }

            private void Wake(bool callEnded)
            {
                TaskCompletionSource<bool> wakeUp;
                lock (_lock)
                {
                    if (callEnded) _callEnded = true;
                    wakeUp = _wakeUp;
                    _wakeUp = null;
                }
                if (wakeUp != null) wakeUp.TrySetResult(true);
            }

            /// <summary>Reported to on the connection's reader thread, synchronously: the order is the worker's.</summary>
            private sealed class Sink : IProgress<string>
            {
                private readonly Enumerator _owner;

                public Sink(Enumerator owner)
                {
                    _owner = owner;
                }

                public void Report(string value)
                {
                    _owner.Add(value);
                }
            }
        }
    }
}
#endif
