using System.Threading.Tasks;

namespace HfWorker.Utils
{
    internal static class TaskUtils
    {
        /// <summary>
        /// Run a task nobody awaits, marking its failure observed: its outcome is handled elsewhere, and an
        /// unobserved exception must not surface later from the finalizer thread.
        /// </summary>
        public static void Forget(this Task task)
        {
            task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
        }
    }
}
