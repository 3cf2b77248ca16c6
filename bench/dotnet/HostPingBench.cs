// The C# host as a latency contender for bench/run.py: a worker started and spoken to through the
// dotnet-host library (WorkerProcess), timing worker/ping round trips the way an async .NET caller
// makes them (await InvokeAsync).
//
//   mono HostPingBench.exe PYTHON REPO_ROOT stdio|pipe
//
// Prints "READY" once the worker is up. Then, for each line N read on stdin, makes N sequential calls
// and prints their round-trip times in microseconds on one line. Stops the worker at end of input.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Tasks;
using HfWorker;

internal static class HostPingBench
{
    private static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: HostPingBench.exe PYTHON REPO_ROOT stdio|pipe");
            return 2;
        }
        return RunAsync(args[0], args[1], args[2] == "pipe" ? WorkerTransport.NamedPipe : WorkerTransport.Stdio)
            .GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(string python, string root, WorkerTransport transport)
    {
        var options = new WorkerProcessOptions
        {
            PythonExecutable = python,
            WorkingDirectory = root,
            Transport = transport,
        };
        using (var worker = await WorkerProcess.StartAsync(options).ConfigureAwait(false))
        {
            var parameters = new Dictionary<string, object> { { "hi", 1 } };
            Console.Out.WriteLine("READY");
            Console.Out.Flush();
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                int calls = int.Parse(line.Trim(), CultureInfo.InvariantCulture);
                var micros = new StringBuilder(calls * 8);
                var clock = new Stopwatch();
                for (int i = 0; i < calls; i++)
                {
                    clock.Restart();
                    await worker.InvokeAsync("worker/ping", parameters).ConfigureAwait(false);
                    clock.Stop();
                    if (i > 0) micros.Append(' ');
                    micros.Append((clock.Elapsed.Ticks / 10.0).ToString("R", CultureInfo.InvariantCulture));
                }
                Console.Out.WriteLine(micros.ToString());
                Console.Out.Flush();
            }
            await worker.StopAsync().ConfigureAwait(false);
        }
        return 0;
    }
}
