using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Python.Runtime;

namespace HfWorker.Bench
{
    /// <summary>
    /// The "call Python inside the .NET process" contender of bench/run.py: CPython embedded with
    /// pythonnet (its Python.Runtime.dll from the pythonnet wheel), driven the way a .NET app would
    /// drive it: take the GIL, call, convert the result to .NET values, release the GIL.
    ///
    ///   mono InProcessPython.exe ping --count N     no-op calls; prints {"p50_us", "p99_us", ...}
    ///   mono InProcessPython.exe serve --threads T --sentences FILE
    ///       loads the model, prints {"ready": ...}, then answers one command per stdin line with one
    ///       JSON line: vector | rate sequential|batch32|concurrent64 [N sentences] | quit
    ///   mono InProcessPython.exe faults              an ordinary Python error, then a native crash
    ///
    /// Every command takes --libpython PATH (the shared CPython library), --site PATH (the
    /// virtual environment's site-packages) and --root PATH (the repository, for bench.baselines).
    /// Results go to stdout as JSON lines; anything else goes to stderr.
    /// </summary>
    public static class InProcessPython
    {
        private const int WarmUpCalls = 200;
        private const int Concurrency = 64;
        private const int Batch = 32;

        public static int Main(string[] args)
        {
            var options = Options.Parse(args);
            var clock = Stopwatch.StartNew();
            IntPtr threadState = StartPython(options);
            double startupMs = clock.Elapsed.TotalMilliseconds;
            int status;
            switch (options.Command)
            {
                case "ping":
                    status = Ping(options.Int("count", 2000));
                    break;
                case "serve":
                    status = Serve(options, clock);
                    break;
                case "faults":
                    status = Faults(startupMs);
                    break;
                default:
                    Console.Error.WriteLine("usage: InProcessPython ping|serve|faults [--options]");
                    status = 2;
                    break;
            }
            PythonEngine.EndAllowThreads(threadState);
            PythonEngine.Shutdown();
            return status;
        }

        private static IntPtr StartPython(Options options)
        {
            Runtime.PythonDLL = options.Required("libpython");
            PythonEngine.Initialize();
            using (Py.GIL())
            {
                // Like a .NET app shipping a virtual environment: its site-packages (and the .pth
                // files in it), then the repository for bench.baselines.
                dynamic site = Py.Import("site");
                site.addsitedir(options.Required("site"));
                dynamic sys = Py.Import("sys");
                sys.path.insert(0, options.Required("root"));
            }
            // Other threads may take the GIL from now on (the concurrent rate needs this).
            return PythonEngine.BeginAllowThreads();
        }

        private static PyObject Import(string name)
        {
            using (Py.GIL())
            {
                return Py.Import("bench.baselines.pythonnet.embedded").GetAttr(name);
            }
        }

        // ---- no-op latency ----------------------------------------------------------------------

        private static int Ping(int count)
        {
            PyObject ping = Import("ping");
            for (int i = 0; i < WarmUpCalls; i++) CallPing(ping);
            var samples = new double[count];
            for (int i = 0; i < count; i++)
            {
                long start = Stopwatch.GetTimestamp();
                CallPing(ping);
                samples[i] = (Stopwatch.GetTimestamp() - start) * 1e6 / Stopwatch.Frequency;
            }
            Array.Sort(samples);
            Emit(new KeyValuePair<string, object>("p50_us", Percentile(samples, 0.50)),
                 new KeyValuePair<string, object>("p99_us", Percentile(samples, 0.99)),
                 new KeyValuePair<string, object>("max_us", samples[samples.Length - 1]),
                 new KeyValuePair<string, object>("calls", count));
            return 0;
        }

        private static string CallPing(PyObject ping)
        {
            using (Py.GIL())
            using (PyObject answer = ping.Invoke())
            {
                return answer.As<string>();
            }
        }

        // ---- embeddings -------------------------------------------------------------------------

        private static int Serve(Options options, Stopwatch sinceStart)
        {
            string[] sentences = File.ReadAllLines(options.Required("sentences"), Encoding.UTF8);
            PyObject embeddings;
            int dimension;
            using (Py.GIL())
            {
                embeddings = Import("Embeddings").Invoke(new PyInt(options.Int("threads", 2)));
                dimension = embeddings.GetAttr("dimension").As<int>();
            }
            var model = new Model(embeddings, dimension);
            model.Embed(sentences, 0, 1); // the first embedding: "ready" means answering
            Emit(new KeyValuePair<string, object>("ready", true),
                 new KeyValuePair<string, object>("to_first_embedding_ms", sinceStart.Elapsed.TotalMilliseconds),
                 new KeyValuePair<string, object>("dimension", dimension),
                 new KeyValuePair<string, object>("pid", Process.GetCurrentProcess().Id));
            string line;
            while ((line = Console.In.ReadLine()) != null)
            {
                string[] words = line.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0) continue;
                if (words[0] == "quit") break;
                if (words[0] == "vector")
                {
                    Emit(new KeyValuePair<string, object>("vector", model.Embed(sentences, 0, 1)));
                }
                else if (words[0] == "rate" && (words.Length == 2 || words.Length == 3))
                {
                    // "rate KIND [N]": over the first N sentences (default all of them).
                    int count = words.Length == 3 ? Math.Min(sentences.Length, int.Parse(words[2], CultureInfo.InvariantCulture)) : sentences.Length;
                    string[] some = sentences.Take(count).ToArray();
                    var clock = Stopwatch.StartNew();
                    if (words[1] == "sequential") Sequential(model, some, 1);
                    else if (words[1] == "batch32") Sequential(model, some, Batch);
                    else if (words[1] == "concurrent64") Concurrent(model, some, Concurrency);
                    else { Fail("unknown rate '" + words[1] + "'"); continue; }
                    Emit(new KeyValuePair<string, object>("sentences_per_second", some.Length / clock.Elapsed.TotalSeconds));
                }
                else
                {
                    Fail("unknown command '" + line + "'");
                }
            }
            return 0;
        }

        private static void Sequential(Model model, string[] sentences, int batch)
        {
            for (int i = 0; i < sentences.Length; i += batch)
            {
                model.Embed(sentences, i, Math.Min(batch, sentences.Length - i));
            }
        }

        /// <summary>
        /// What a .NET service does when requests arrive on many threads: each thread embeds its own
        /// sentence, one at a time, taking the GIL for its call. Dedicated threads, so that the thread
        /// pool's slow growth is not what is measured.
        /// </summary>
        private static void Concurrent(Model model, string[] sentences, int threads)
        {
            int next = -1;
            var workers = new Thread[threads];
            Exception failure = null;
            for (int t = 0; t < threads; t++)
            {
                workers[t] = new Thread(() =>
                {
                    try
                    {
                        int i;
                        while ((i = Interlocked.Increment(ref next)) < sentences.Length) model.Embed(sentences, i, 1);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref failure, e, null);
                    }
                });
                workers[t].Start();
            }
            foreach (var worker in workers) worker.Join();
            if (failure != null) throw new InvalidOperationException("a concurrent embedding failed", failure);
        }

        /// <summary>The model in Python, its results copied into .NET arrays.</summary>
        private sealed class Model
        {
            private readonly PyObject _embeddings;
            private readonly int _dimension;

            public Model(PyObject embeddings, int dimension)
            {
                _embeddings = embeddings;
                _dimension = dimension;
            }

            /// <summary>Unit vectors of sentences[start .. start+count), row after row.</summary>
            public float[] Embed(string[] sentences, int start, int count)
            {
                var vectors = new float[count * _dimension];
                var bytes = new byte[vectors.Length * sizeof(float)];
                using (Py.GIL())
                {
                    using (var batch = new PyList())
                    {
                        for (int i = start; i < start + count; i++)
                        {
                            using (var text = new PyString(sentences[i])) batch.Append(text);
                        }
                        using (PyObject array = _embeddings.InvokeMethod("embed", batch))
                        using (PyBuffer buffer = array.GetBuffer(PyBUF.CONTIG_RO))
                        {
                            buffer.Read(bytes, 0, bytes.Length, IntPtr.Zero);
                        }
                    }
                }
                Buffer.BlockCopy(bytes, 0, vectors, 0, bytes.Length);
                return vectors;
            }
        }

        // ---- fault isolation --------------------------------------------------------------------

        /// <summary>
        /// An ordinary Python error (a .NET exception, the app goes on), then what a bug in a native
        /// extension does. Each step prints a line before and after, so the caller can tell how far
        /// the .NET process got.
        /// </summary>
        private static int Faults(double startupMs)
        {
            Emit(new KeyValuePair<string, object>("started", true),
                 new KeyValuePair<string, object>("startup_ms", startupMs));
            try
            {
                using (Py.GIL()) Import("fail").Invoke().Dispose();
                Emit(new KeyValuePair<string, object>("python_exception", "not raised"));
            }
            catch (PythonException e)
            {
                Emit(new KeyValuePair<string, object>("python_exception", "caught as " + e.GetType().Name));
            }
            Emit(new KeyValuePair<string, object>("native_crash", "calling"));
            try
            {
                using (Py.GIL()) Import("crash_native").Invoke().Dispose();
                Emit(new KeyValuePair<string, object>("native_crash", "returned"));
            }
            catch (Exception e)
            {
                Emit(new KeyValuePair<string, object>("native_crash", "caught as " + e.GetType().Name));
            }
            Emit(new KeyValuePair<string, object>("survived", true));
            return 0;
        }

        // ---- output -----------------------------------------------------------------------------

        private static void Fail(string message)
        {
            Emit(new KeyValuePair<string, object>("error", message));
        }

        private static double Percentile(double[] sorted, double p)
        {
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        }

        /// <summary>One JSON object on one stdout line (flat: numbers, strings, booleans, float arrays).</summary>
        private static void Emit(params KeyValuePair<string, object>[] fields)
        {
            var line = new StringBuilder("{");
            for (int i = 0; i < fields.Length; i++)
            {
                if (i > 0) line.Append(", ");
                line.Append('"').Append(fields[i].Key).Append("\": ").Append(Json(fields[i].Value));
            }
            Console.Out.WriteLine(line.Append('}').ToString());
            Console.Out.Flush();
        }

        private static string Json(object value)
        {
            if (value is bool) return (bool)value ? "true" : "false";
            if (value is string) return "\"" + ((string)value).Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
            if (value is float[]) return "[" + string.Join(", ", ((float[])value).Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]";
            return Convert.ToString(value, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The command and its --name value options.</summary>
    internal sealed class Options
    {
        private readonly Dictionary<string, string> _values = new Dictionary<string, string>();

        public string Command { get; private set; }

        public static Options Parse(string[] args)
        {
            var options = new Options { Command = args.Length > 0 ? args[0] : "" };
            for (int i = 1; i + 1 < args.Length; i += 2)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException("expected --name value, got " + args[i]);
                options._values[args[i].Substring(2)] = args[i + 1];
            }
            return options;
        }

        public string Required(string name)
        {
            string value;
            if (!_values.TryGetValue(name, out value)) throw new ArgumentException("--" + name + " is required");
            return value;
        }

        public int Int(string name, int fallback)
        {
            string value;
            return _values.TryGetValue(name, out value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
        }
    }
}
