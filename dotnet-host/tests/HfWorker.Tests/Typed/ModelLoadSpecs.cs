using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Models;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>What model/load says about the model it loaded, read into <see cref="ModelInfo"/>: precision, backend.</summary>
    [TestFixture]
    public class ModelLoadSpecs : ScratchFolderFixture
    {
        private const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";

        public ModelLoadSpecs()
            : base("hfw-load-specs-")
        {
        }

        private sealed class Stages : IProgress<string>
        {
            public readonly List<string> Items = new List<string>();

            public void Report(string value)
            {
                lock (Items) Items.Add(value);
            }
        }

        private static double Cosine(float[] a, float[] b)
        {
            double dot = 0, na = 0, nb = 0;
            for (int i = 0; i < a.Length; i++)
            {
                dot += (double)a[i] * b[i];
                na += (double)a[i] * a[i];
                nb += (double)b[i] * b[i];
            }
            return dot / Math.Sqrt(na * nb);
        }

        [Test, Timeout(120000)]
        public async Task Auto_precision_reports_the_checks_figures_and_generation_keeps_float32()
        {
            // --native-bf16 yes lets "auto" try bfloat16 on any CPU (emulated where the CPU lacks it: slow, fine for a probe).
            var options = TestEnvironment.Worker();
            options.Arguments.Add("--native-bf16");
            options.Arguments.Add("yes");
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var hf = new HfModels(worker);
                var embedder = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu" });
                var precision = embedder.Info.Precision;
                Assert.That(precision.Checked, Is.True);
                Assert.That(precision.Cosine, Is.Not.Null, "embeddings are checked by cosine");
                Assert.That(precision.MaxProbabilityDifference, Is.Null);
                Assert.That(precision.Chosen, Is.EqualTo(embedder.Info.DType));
                Assert.That(precision.Chosen, Is.EqualTo(precision.Cosine >= 0.999 ? "bfloat16" : "float32"), precision.Reason);

                var classifier = await hf.LoadAsync(TestEnvironment.TinyModel("text-classification"), new ModelLoadOptions { Device = "cpu" });
                var checkedClassifier = classifier.Info.Precision;
                Assert.That(checkedClassifier.MaxProbabilityDifference, Is.Not.Null, "classifiers are checked by their probabilities");
                Assert.That(checkedClassifier.Cosine, Is.Null);
                Assert.That(checkedClassifier.Chosen, Is.EqualTo(classifier.Info.DType));
                Mentions.All(checkedClassifier.Reason, "bfloat16");

                var generator = await hf.LoadAsync(TestEnvironment.TinyModel("text-generation"), new ModelLoadOptions { Device = "cpu" });
                Assert.That(generator.Info.Precision.Chosen, Is.EqualTo("float32"));
                Mentions.All(generator.Info.Precision.Reason, "keeps float32");
                Assert.That(generator.Info.Precision.Checked, Is.False);
            }
        }

        [Test, Timeout(300000)]
        public async Task A_named_dtype_is_unchecked_and_the_onnxruntime_backend_embeds_as_torch_does_and_reports_its_export_and_check()
        {
            // An export cache of the test's own: the first load exports, a second worker finds it.
            var options = TestEnvironment.Worker();
            options.Arguments.Add("--cache-dir");
            options.Arguments.Add(Path.Combine(Scratch, "cache"));
            var sentences = new[] { "A cat sleeps on the sofa.", "The stock market fell sharply today." };
            float[][] fromTorch;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var hf = new HfModels(worker);
                var torch = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu", DType = "float32" });
                Assert.That(torch.Info.Backend, Is.EqualTo(ModelBackend.Torch));
                Assert.That(torch.Info.Onnx, Is.Null);
                Assert.That(torch.Info.Precision.Chosen, Is.EqualTo("float32"));
                Assert.That(torch.Info.Precision.Reason, Is.EqualTo("requested"), "a named dtype is used as asked, unchecked");
                Assert.That(torch.Info.Precision.Checked, Is.False);
                fromTorch = await hf.EmbedAsync(torch, sentences);

                var stages = new Stages();
                var onnx = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu", Backend = ModelBackend.OnnxRuntime }, stages);
                Assert.That(onnx.Info.Backend, Is.EqualTo(ModelBackend.OnnxRuntime));
                Assert.That(onnx.Info.Handle, Is.Not.EqualTo(torch.Info.Handle));
                Assert.That(stages.Items, Has.Member("exporting"));
                var info = onnx.Info.Onnx;
                Assert.That(info.Cached, Is.False, "a new cache: exported by this load");
                StringAssert.StartsWith(Path.Combine(Scratch, "cache"), info.Path);
                StringAssert.EndsWith("model.onnx", info.Path);
                Assert.That(info.Opset, Is.GreaterThanOrEqualTo(14));
                Assert.That(info.Quantize, Is.Null);
                Assert.That(info.Exporter, Is.Not.Null.And.Not.Empty);
                Assert.That(info.Check.Cosine, Is.GreaterThanOrEqualTo(0.999));
                Assert.That(info.Check.MaxAbsoluteDifference, Is.LessThan(1e-3));
                Assert.That(info.Check.LabelAgreement, Is.Null, "an embedding model is checked by cosine");

                var fromOnnx = await hf.EmbedAsync(onnx, sentences);
                for (int i = 0; i < sentences.Length; i++)
                {
                    Assert.That(fromOnnx[i].Length, Is.EqualTo(fromTorch[i].Length));
                    Assert.That(Cosine(fromOnnx[i], fromTorch[i]), Is.GreaterThan(0.9999), "sentence " + i);
                    Assert.That(fromOnnx[i], Is.EqualTo(fromTorch[i]).Within(1e-3f));
                }

                var quantizeWithTorch = await AsyncAssert.Throws<WorkerRpcException>(
                    () => hf.LoadAsync(MiniLm, new ModelLoadOptions { Quantize = "int8" }));
                Assert.That(quantizeWithTorch.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                Mentions.All(quantizeWithTorch.Message, "onnxruntime");
            }

            using (var restarted = await WorkerProcess.StartAsync(options))
            {
                var hf = new HfModels(restarted);
                var onnx = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu", Backend = ModelBackend.OnnxRuntime });
                Assert.That(onnx.Info.Onnx.Cached, Is.True, "a restarted worker finds the export");
                var again = await hf.EmbedAsync(onnx, sentences[0]);
                Assert.That(again, Is.EqualTo(fromTorch[0]).Within(1e-3f));
            }
        }

        [Test, Timeout(300000)]
        public async Task Export_writes_a_folder_with_the_graph_the_tokenizer_and_a_manifest()
        {
            var options = TestEnvironment.Worker();
            options.Arguments.Add("--cache-dir");
            options.Arguments.Add(Path.Combine(Scratch, "cache"));
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var hf = new HfModels(worker);
                var classifier = await hf.LoadAsync(TestEnvironment.TinyModel("text-classification"), new ModelLoadOptions { Device = "cpu" });
                var output = Path.Combine(Scratch, "exported");
                var stages = new Stages();
                var export = await hf.ExportAsync(classifier, new ExportOptions { Output = output }, stages);
                Assert.That(export.Output, Is.EqualTo(output));
                Assert.That(export.Manifest, Is.EqualTo(Path.Combine(output, "hf-worker-export.json")));
                Assert.That(File.Exists(export.Manifest), Is.True);
                foreach (var file in new[] { "model.onnx", "config.json", "tokenizer.json", "hf-worker-export.json" }) Assert.That(export.Files, Has.Member(file));
                Assert.That(export.Files.All(f => File.Exists(Path.Combine(output, f))), Is.True, "every file named is there");
                Assert.That(export.Task, Is.EqualTo("text-classification"));
                Assert.That(export.Onnx.Path, Is.EqualTo(Path.Combine(output, "model.onnx")));
                Assert.That(export.Onnx.Check.LabelAgreement, Is.EqualTo(1.0), "a classifier is checked by its labels");
                Assert.That(stages.Items, Has.Member("writing"));
                Assert.That(stages.Items.Last(), Is.EqualTo("ready"));

                var manifest = (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(export.Manifest));
                Assert.That(manifest["task"], Is.EqualTo("text-classification"));
                Assert.That(manifest["format"], Is.EqualTo("hf-worker-export"));

                var byId = await hf.ExportAsync(TestEnvironment.TinyModel("text-classification"),
                    new ExportOptions { Output = Path.Combine(Scratch, "again"), Task = "text-classification" });
                Assert.That(byId.Cached, Is.True, "the graph exported for the handle serves the same model by folder");

                var occupied = await AsyncAssert.Throws<WorkerRpcException>(() => hf.ExportAsync(classifier, new ExportOptions { Output = output }));
                Assert.That(occupied.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams), "an export never overwrites");
                var relative = await AsyncAssert.Throws<WorkerRpcException>(() => hf.ExportAsync(classifier, new ExportOptions { Output = "exports/x" }));
                Assert.That(relative.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                Assert.Throws<ArgumentException>(() => hf.ExportAsync(classifier, new ExportOptions()), "Output is required");
            }
        }
    }
}
