using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading.Tasks;

namespace HfWorker.Demo
{
    /// <summary>
    /// The console demo: a semantic search on a pool (default), a stress run that kills workers while it
    /// runs, a ping round-trip measurement, how a pool recovers from a worker's native crash, and an image,
    /// speech or ONNX export made by a model given on the command line.
    /// </summary>
    public static class Program
    {
        private const string Usage =
            "usage: Demo [demo] [--workers N] [--venv PATH] [--transport stdio|pipe]\n" +
            "       Demo stress --workers N --requests M [--kill-every SECONDS] [--deadline SECONDS] [--venv PATH] [--transport stdio|pipe]\n" +
            "       Demo ping [--count N] [--rounds R] [--in-flight K] [--pool yes|no] [--venv PATH] [--transport stdio|pipe]\n" +
            "       Demo crash [--workers N] [--venv PATH] [--transport stdio|pipe]\n" +
            "       Demo startup [--workers LARGEST] [--venv PATH] [--transport stdio|pipe]\n" +
            "       Demo image --model FOLDER --prompt TEXT [--out image.png] [--source IMAGE] [--steps N] [--size PX] [--seed S] [--guidance G] [--preview-every K] [--venv PATH]\n" +
            "       Demo speak --model FOLDER --text TEXT [--out speech.wav] [--seed S] [--encoding pcm16|float32] [--venv PATH]\n" +
            "       Demo export --model ID_OR_FOLDER --out FOLDER [--quantize int8] [--task TASK] [--venv PATH]";

        public static int Main(string[] args)
        {
            try
            {
                var arguments = Arguments.Parse(args);
                switch (arguments.Command)
                {
                    case "demo":
                        return SemanticSearchDemo.RunAsync(arguments).GetAwaiter().GetResult();
                    case "stress":
                        return StressTest.RunAsync(arguments).GetAwaiter().GetResult();
                    case "ping":
                        return PingBenchmark.RunAsync(arguments).GetAwaiter().GetResult();
                    case "crash":
                        return CrashRecovery.RunAsync(arguments).GetAwaiter().GetResult();
                    case "startup":
                        return StartupBenchmark.RunAsync(arguments).GetAwaiter().GetResult();
                    case "image":
                        return MediaCommands.ImageAsync(arguments).GetAwaiter().GetResult();
                    case "speak":
                        return MediaCommands.SpeakAsync(arguments).GetAwaiter().GetResult();
                    case "export":
                        return MediaCommands.ExportAsync(arguments).GetAwaiter().GetResult();
                    default:
                        Console.Error.WriteLine(Usage);
                        return 2;
                }
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e.Message);
                Console.Error.WriteLine(Usage);
                return 2;
            }
        }
    }

    /// <summary>The command and its --options.</summary>
    internal sealed class Arguments
    {
        private readonly Dictionary<string, string> _options = new Dictionary<string, string>();

        public string Command { get; private set; }

        public static Arguments Parse(string[] args)
        {
            var parsed = new Arguments { Command = "demo" };
            int i = 0;
            if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
            {
                parsed.Command = args[0];
                i = 1;
            }
            for (; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                {
                    throw new ArgumentException("expected --name value, got '" + args[i] + "'");
                }
                parsed._options[args[i].Substring(2)] = args[++i];
            }
            return parsed;
        }

        public int Int(string name, int fallback)
        {
            string text;
            if (!_options.TryGetValue(name, out text)) return fallback;
            int value;
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) || value < 0)
            {
                throw new ArgumentException("--" + name + " takes a non-negative integer, got '" + text + "'");
            }
            return value;
        }

        public double Seconds(string name, double fallback)
        {
            string text;
            if (!_options.TryGetValue(name, out text)) return fallback;
            double value;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) || value < 0)
            {
                throw new ArgumentException("--" + name + " takes seconds, got '" + text + "'");
            }
            return value;
        }

        public double Number(string name, double fallback)
        {
            string text;
            if (!_options.TryGetValue(name, out text)) return fallback;
            double value;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            {
                throw new ArgumentException("--" + name + " takes a number, got '" + text + "'");
            }
            return value;
        }

        public string Text(string name, string fallback)
        {
            string text;
            return _options.TryGetValue(name, out text) ? text : fallback;
        }

        /// <summary>Worker options from --venv (else HFW_VENV, else the .venv of the repository this demo sits in) and --transport.</summary>
        public WorkerProcessOptions Worker()
        {
            var options = new WorkerProcessOptions
            {
                VirtualEnvironment = Text("venv", null) ?? Environment.GetEnvironmentVariable("HFW_VENV") ?? FindRepositoryVenv(),
            };
            switch (Text("transport", "stdio"))
            {
                case "stdio": options.Transport = WorkerTransport.Stdio; break;
                case "pipe": options.Transport = WorkerTransport.NamedPipe; break;
                default: throw new ArgumentException("--transport is stdio or pipe");
            }
            return options;
        }

        private static string FindRepositoryVenv()
        {
            var dir = new System.IO.DirectoryInfo(AppDomain.CurrentDomain.BaseDirectory);
            while (dir != null)
            {
                var venv = System.IO.Path.Combine(dir.FullName, ".venv");
                if (System.IO.Directory.Exists(venv)) return venv;
                dir = dir.Parent;
            }
            return null; // python3 from the PATH, with the worker installed there
        }
    }
}
