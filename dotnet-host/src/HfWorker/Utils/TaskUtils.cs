using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Utils
{
    internal static class TaskUtils
    {
        /// <summary>
        /// Settle <paramref name="completion"/> on a thread-pool thread, so that its continuations (a caller's code) never
        /// run inside the caller of this: a token's callback inside someone's <c>Cancel()</c>, a closing connection, a pump.
        /// </summary>
        public static void SettleOnThreadPool<T>(this TaskCompletionSource<T> completion, Action<TaskCompletionSource<T>> outcome)
        {
            ThreadPool.UnsafeQueueUserWorkItem(state => outcome((TaskCompletionSource<T>)state), completion);
        }

        /// <summary>
        /// Run a task nobody awaits, marking its failure observed: its outcome is handled elsewhere, and an
        /// unobserved exception must not surface later from the finalizer thread.
        /// </summary>
        public static void Forget(this Task task)
        {
            task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        }

        /// <summary>
        /// The first of <paramref name="tasks"/> to end, or null when <paramref name="limit"/> passes or the
        /// token fires first. Unlike <c>Task.WhenAny(…, Task.Delay(limit))</c>, the timer is removed as soon
        /// as one task ends instead of staying armed for the whole limit: on Mono every armed timer is one
        /// more entry its timer thread keeps sorting, and a process exiting mid-sort dies with exit code 1.
        /// </summary>
        public static async Task<Task> FirstWithin(TimeSpan limit, CancellationToken cancellationToken, params Task[] tasks)
        {
            using (var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                var expired = Task.Delay(limit, timer.Token);
                var first = await Task.WhenAny(tasks.Concat(new[] { expired })).ConfigureAwait(false);
                timer.Cancel();
                return first == expired ? null : first;
            }
        }

        /// <summary>True if <paramref name="task"/> ends within <paramref name="limit"/> (see <see cref="FirstWithin"/>).</summary>
        public static async Task<bool> EndsWithin(this Task task, TimeSpan limit)
        {
            return await FirstWithin(limit, CancellationToken.None, task).ConfigureAwait(false) != null;
        }
    }
}
