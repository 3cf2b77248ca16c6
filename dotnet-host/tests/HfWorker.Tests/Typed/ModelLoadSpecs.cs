using System.Threading.Tasks;
using HfWorker.Models;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>What model/load says about the model it loaded, read into <see cref="ModelInfo"/>: precision, backend.</summary>
    [TestFixture]
    public class ModelLoadSpecs
    {
        private const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";

        [Test, Timeout(120000)]
        public async Task A_named_dtype_is_used_as_requested_and_unchecked()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var model = await new HfModels(worker).LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu", DType = "float32" });
                var precision = model.Info.Precision;
                Assert.That(precision, Is.Not.Null);
                Assert.That(precision.Chosen, Is.EqualTo("float32"));
                Assert.That(precision.Reason, Is.EqualTo("requested"));
                Assert.That(precision.Cosine, Is.Null);
                Assert.That(precision.MaxProbabilityDifference, Is.Null);
                Assert.That(precision.Checked, Is.False);
            }
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
    }
}
