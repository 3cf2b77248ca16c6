using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using HfWorker.Exceptions;
using HfWorker.Provisioning;

// One WorkerEnvironment ensure in a process of its own, for the specs that need a second OS process (the
// cross-process lock, a build killed half-way) and for timing cold, warm and ready ensures. Every progress report is
// a line on stdout; with --pause-at STAGE it stops at that stage's first report, holding the lock, until a line
// arrives on stdin.
//
//   mono EnsureTool.exe --cache DIR --hf-worker WHEEL|FOLDER|VERSION [--python 3.11] [--extras models]
//       [--package REQ]... [--torch cpu|auto] [--index-url URL] [--extra-index-url URL]... [--find-links DIR]...
//       [--uv PATH] [--pip-only] [--lock FILE] [--pause-at STAGE]
internal static class Program
{
    private static int Main(string[] args)
    {
        var builder = WorkerEnvironment.CreateBuilder();
        string pauseAt = null;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--cache": builder.WithCacheFolder(value); i++; break;
                case "--hf-worker": builder.WithHfWorker(value); i++; break;
                case "--python": builder.WithPython(value); i++; break;
                case "--extras": builder.WithExtras(value.Split(',')); i++; break;
                case "--package": builder.WithPackages(value); i++; break;
                case "--torch": builder.WithTorch(value == "cpu" ? TorchBuild.Cpu : TorchBuild.Auto); i++; break;
                case "--index-url": builder.WithIndexUrl(value); i++; break;
                case "--extra-index-url": builder.WithExtraIndexUrl(value); i++; break;
                case "--find-links": builder.WithFindLinks(value); i++; break;
                case "--uv": builder.WithUv(value); i++; break;
                case "--pip-only": builder.WithPipOnly(); break;
                case "--lock": builder.WithLockFile(value); i++; break;
                case "--pause-at": pauseAt = value; i++; break;
                default:
                    Console.Error.WriteLine("EnsureTool: unknown argument " + args[i]);
                    return 2;
            }
        }
        var clock = Stopwatch.StartNew();
        try
        {
            var environment = builder.EnsureAsync(new Lines(pauseAt)).GetAwaiter().GetResult();
            Say("ready " + environment.Folder);
            Say("built " + environment.Built);
            Say("packages " + environment.Packages.Count.ToString(CultureInfo.InvariantCulture));
            Say("seconds " + clock.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture));
            return 0;
        }
        catch (EnvironmentException e)
        {
            Say("error " + e.Message.Replace('\n', ' '));
            return 3;
        }
    }

    private static void Say(string line)
    {
        lock (typeof(Program))
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }

    /// <summary>Reports written as they come (Progress&lt;T&gt; would post them to the thread pool, out of order).</summary>
    private sealed class Lines : IProgress<EnvironmentProgress>
    {
        private readonly string _pauseAt;
        private bool _paused;

        public Lines(string pauseAt)
        {
            _pauseAt = pauseAt;
        }

        public void Report(EnvironmentProgress value)
        {
            if (value.OutputLine != null)
            {
                Say("line " + value.OutputLine);
                return;
            }
            Say("stage " + value.Stage + " " + value.Message);
            if (!_paused && value.Stage.ToString() == _pauseAt)
            {
                _paused = true;
                Say("paused " + value.Stage);
                Console.In.ReadLine();
            }
        }
    }
}
