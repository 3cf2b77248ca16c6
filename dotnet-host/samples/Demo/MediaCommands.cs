using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Models;

namespace HfWorker.Demo
{
    /// <summary>
    /// The demo's `image`, `speak` and `export` commands: one worker, a model folder (or hub id) from the command line,
    /// and a file or folder written with what it made. Ctrl+C cancels the call on the worker.
    /// </summary>
    internal static class MediaCommands
    {
        /// <summary>An image from a prompt (text-to-image), or from --source and a prompt (image-to-image), written as a PNG.</summary>
        public static async Task<int> ImageAsync(Arguments arguments)
        {
            string model = Required(arguments, "model");
            string prompt = Required(arguments, "prompt");
            string source = arguments.Text("source", null);
            string output = Path.GetFullPath(arguments.Text("out", "image.png"));
            int size = arguments.Int("size", 0);
            var options = new ImageGenerationOptions
            {
                Steps = arguments.Int("steps", 20),
                Width = size > 0 ? size : (int?)null,
                Height = size > 0 ? size : (int?)null,
                Seed = arguments.Text("seed", null) == null ? (long?)null : arguments.Int("seed", 0),
                PreviewEvery = arguments.Int("preview-every", 0) > 0 ? arguments.Int("preview-every", 0) : (int?)null,
            };
            if (arguments.Text("guidance", null) != null) options.GuidanceScale = arguments.Number("guidance", 0);
            using (var cancel = CancelOnCtrlC())
            using (var worker = await WorkerProcess.StartAsync(arguments.Worker()))
            {
                var hf = new HfModels(worker);
                var loaded = await hf.LoadAsync(model, new ModelLoadOptions { Task = source == null ? null : "image-to-image" }, null, cancel.Token);
                Console.WriteLine("loaded " + loaded + " (" + loaded.Info.Parameters.ToString("N0") + " parameters, " + loaded.Info.DType + ")");
                var progress = new Synchronous<ImageGenerationProgress>(p => Console.WriteLine("  " + p));
                var image = source == null
                    ? await hf.GenerateImageAsync(loaded, prompt, options, progress, cancel.Token)
                    : await hf.GenerateImageAsync(loaded, prompt, ModelInput.File(Path.GetFullPath(source)), options, progress, cancel.Token);
                File.WriteAllBytes(output, image.Bytes);
                Console.WriteLine("wrote " + output + ": " + image);
            }
            return 0;
        }

        /// <summary>Speech from text (text-to-speech), written as a WAV.</summary>
        public static async Task<int> SpeakAsync(Arguments arguments)
        {
            string model = Required(arguments, "model");
            string text = Required(arguments, "text");
            string output = Path.GetFullPath(arguments.Text("out", "speech.wav"));
            var options = new SpeechOptions
            {
                Seed = arguments.Text("seed", null) == null ? (long?)null : arguments.Int("seed", 0),
                Encoding = arguments.Text("encoding", null),
            };
            using (var cancel = CancelOnCtrlC())
            using (var worker = await WorkerProcess.StartAsync(arguments.Worker()))
            {
                var hf = new HfModels(worker);
                var loaded = await hf.LoadAsync(model, null, null, cancel.Token);
                Console.WriteLine("loaded " + loaded);
                var speech = await hf.SynthesizeSpeechAsync(loaded, text, options, cancel.Token);
                File.WriteAllBytes(output, speech.Audio);
                Console.WriteLine("wrote " + output + ": " + speech);
            }
            return 0;
        }

        /// <summary>A model written as a folder for Microsoft.ML.OnnxRuntime (model/export).</summary>
        public static async Task<int> ExportAsync(Arguments arguments)
        {
            string model = Required(arguments, "model");
            var options = new ExportOptions
            {
                Output = Path.GetFullPath(Required(arguments, "out")),
                Quantize = arguments.Text("quantize", null),
                Task = arguments.Text("task", null),
            };
            using (var cancel = CancelOnCtrlC())
            using (var worker = await WorkerProcess.StartAsync(arguments.Worker()))
            {
                var stages = new Synchronous<string>(stage => Console.WriteLine("  " + stage));
                var export = await new HfModels(worker).ExportAsync(model, options, stages, cancel.Token);
                Console.WriteLine("wrote " + export.Output + (export.Cached ? " (graph from the export cache)" : "") + ": " + string.Join(", ", export.Files));
                Console.WriteLine("checked against torch: " + export.Onnx.Check);
            }
            return 0;
        }

        private static string Required(Arguments arguments, string name)
        {
            string value = arguments.Text(name, null);
            if (value == null) throw new ArgumentException("--" + name + " is required");
            return value;
        }

        private static CancellationTokenSource CancelOnCtrlC()
        {
            var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (sender, e) =>
            {
                e.Cancel = true; // end the call on the worker, then the demo, rather than the process at once
                cancel.Cancel();
            };
            return cancel;
        }
    }

    /// <summary>
    /// Reports on the thread that reports (the connection's reader), in order; <see cref="Progress{T}"/> would post
    /// each report to the thread pool and could print them out of order.
    /// </summary>
    internal sealed class Synchronous<T> : IProgress<T>
    {
        private readonly Action<T> _report;

        public Synchronous(Action<T> report)
        {
            _report = report;
        }

        public void Report(T value)
        {
            _report(value);
        }
    }
}
