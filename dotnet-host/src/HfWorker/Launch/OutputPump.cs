using System;
using System.IO;
using System.Threading.Tasks;

namespace HfWorker.Launch
{
    /// <summary>
    /// Reads a worker's stderr (or stdout, with a pipe) line by line into its tail and the host's callback.
    /// It must never stop early: a pipe nobody drains fills up and blocks the worker's writes.
    /// </summary>
    internal static class OutputPump
    {
        public static async Task RunAsync(StreamReader source, string prefix, StderrTail tail, Action<string> onLine)
        {
            try
            {
                string line;
                while ((line = await source.ReadLineAsync().ConfigureAwait(false)) != null)
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
