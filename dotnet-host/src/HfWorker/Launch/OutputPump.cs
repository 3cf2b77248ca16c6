using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Launch
{
    /// <summary>
    /// Reads a worker's stderr (or stdout, with a pipe) line by line into its tail and the host's callback.
    /// It must never stop early: a pipe nobody drains fills up and blocks the worker's writes.
    /// </summary>
    /// <remarks>
    /// Each pump has a background thread of its own and reads with blocking calls: an asynchronous read of a
    /// process's pipe is a blocked thread-pool thread in disguise on Mono, held for the worker's whole life.
    /// </remarks>
    internal static class OutputPump
    {
        /// <summary>Start pumping; the task completes when the stream has ended.</summary>
        public static Task Start(StreamReader source, string prefix, StderrTail tail, Action<string> onLine)
        {
            var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                Pump(source, prefix, tail, onLine);
                done.TrySetResult(true);
            })
            {
                IsBackground = true,
                Name = prefix == null ? "hf-worker stderr" : "hf-worker stdout",
            };
            thread.Start();
            return done.Task;
        }

        private static void Pump(StreamReader source, string prefix, StderrTail tail, Action<string> onLine)
        {
            try
            {
                string line;
                while ((line = source.ReadLine()) != null)
                {
                    string text = prefix == null ? line : prefix + line;
                    tail.Add(text);
                    try
                    {
                        onLine(text);
                    }
                    catch (Exception)
                    {
                        // The host's logging failing is no reason to stop draining the pipe.
                    }
                }
            }
            catch (Exception e) when (e is IOException || e is ObjectDisposedException)
            {
                // The pipe closed with the process.
            }
        }
    }
}
