using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Protocol;
using HfWorker.Tests.Pool;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>Per-worker handles through a pool: raw calls pinned to their worker, and tensors lost with it.</summary>
    [TestFixture]
    public class TensorAffinitySpecs
    {
        private sealed class Kept
        {
            public string Handle;
            public WorkerProcess Worker;
        }

        [Test, Timeout(60000)]
        public async Task A_raw_call_pinned_to_the_worker_that_owns_a_handle_runs_there()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var data = new byte[] { 0, 0, 128, 63, 0, 0, 0, 64 };
                // The per-worker reader learns which worker answered: the handle is that worker's.
                var put = new Invocation<Kept>("tensor/put", _ => Params.Of("data", data, "dtype", "float32", "shape", new[] { 2 }),
                    (r, worker) => new Kept { Handle = (string)((Dictionary<string, object>)r.ReadValue())["handle"], Worker = worker });
                var kept = await pool.InvokeAsync(put);
                Assert.That(pool.Workers, Has.Member(kept.Worker));

                var reads = Enumerable.Range(0, 8).Select(_ => pool.InvokeAsync(
                    PoolTesting.Call("tensor/get", Params.Of("handle", kept.Handle)).PinnedTo(kept.Worker))).ToList();
                foreach (Dictionary<string, object> back in await Task.WhenAll(reads)) Assert.That(back["data"], Is.EqualTo(data));

                // Pinned to the other worker, the same handle means nothing: pinning is what made the reads work.
                var other = pool.Workers.Single(w => w != kept.Worker);
                var elsewhere = await AsyncAssert.Throws<WorkerRpcException>(() => pool.InvokeAsync(
                    PoolTesting.Call("tensor/get", Params.Of("handle", kept.Handle)).PinnedTo(other)));
                Assert.That(elsewhere.ErrorCode, Is.EqualTo(RpcErrorCode.UnknownHandle));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_search_over_a_corpus_whose_worker_died_says_the_corpus_was_lost()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var hf = new HfModels(pool);
                var corpus = await hf.PutTensorAsync(new[] { 1f, 0f, 0f, 1f }, new[] { 2, 2 });
                var owner = corpus.Worker;

                PoolTesting.KillFromOutside(owner);
                // At once, before the pool has seen the exit, and again after: the same answer either way.
                var early = await AsyncAssert.Throws<TensorLostException>(() => hf.SearchAsync(corpus, new[] { 1f, 0f }, topK: 1));
                await owner.WaitForExitAsync();
                var late = await AsyncAssert.Throws<TensorLostException>(() => hf.SearchAsync(corpus, new[] { 1f, 0f }, topK: 1));

                foreach (var lost in new[] { early, late })
                {
                    Assert.That(lost.Tensor, Is.SameAs(corpus));
                    Assert.That(lost.Method, Is.EqualTo("tensor/search"));
                    Assert.That(lost.ExitInfo.ProcessId, Is.EqualTo(owner.ProcessId));
                    Mentions.All(lost.Message, "tensor/search: the corpus (tensor " + corpus.Id + ")", "ended with it", "worker process " + owner.ProcessId);
                    Assert.That(lost.Message.Contains("not answered"), Is.False, lost.Message);
                }
                // Nothing is left to free on a dead worker: freeing the lost tensor is not an error.
                Assert.That(await hf.FreeTensorsAsync(new[] { corpus }), Is.EqualTo(0));
            }
        }
    }

    internal static class Pinning
    {
        public static Invocation<T> PinnedTo<T>(this Invocation<T> invocation, WorkerProcess worker)
        {
            invocation.Affinity = worker;
            return invocation;
        }
    }
}
