using System;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Tests.Pool;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    [TestFixture]
    public class PooledModelSpecs
    {
        [Test, Timeout(180000)]
        public async Task A_crashed_worker_is_replaced_and_its_models_reloaded_before_it_takes_calls()
        {
            using (var pool = await PoolTesting.Start(2, o => o.PingTimeout = TimeSpan.FromSeconds(10)))
            {
                var hf = new HfModels(pool);
                var model = await hf.LoadAsync("sentence-transformers/all-MiniLM-L6-v2", new Models.ModelLoadOptions { Device = "cpu" });
                var first = pool.Workers.ToList();
                Assert.That(first.Select(w => model.HandleOn(w)).All(h => h != null), Is.True, "loaded on every worker");
                var reference = await hf.EmbedAsync(model, "A cat sleeps on the sofa.");

                var replaced = new TaskCompletionSource<WorkerProcess>(TaskCreationOptions.RunContinuationsAsynchronously);
                pool.WorkerReady += (sender, args) => replaced.TrySetResult(args.Worker);
                // Embeddings keep flowing while one worker crashes and is replaced: they are safe to retry.
                var during = Enumerable.Range(0, 40).Select(i => hf.EmbedAsync(model, "A cat sleeps on the sofa.")).ToList();
                await AsyncAssert.Throws<Exceptions.WorkerCrashedException>(() => first[0].InvokeAsync("test/crash", Params.Of("exit_code", 9)));
                var replacement = await replaced.Task;
                Assert.That(model.HandleOn(replacement), Is.Not.Null, "the model was loaded on the replacement before it was announced");
                var results = await Task.WhenAll(during);
                Assert.That(results.All(v => v.Zip(reference, (a, b) => Math.Abs(a - b)).Max() < 1e-4), Is.True);

                var after = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => hf.EmbedAsync(model, "A cat sleeps on the sofa.")));
                Assert.That(after.Length, Is.EqualTo(8));
                Assert.That(pool.Statistics.Restarts, Is.EqualTo(1));
                Assert.That(pool.Statistics.Failed, Is.EqualTo(0), "no embedding failed");
            }
        }
    }
}
