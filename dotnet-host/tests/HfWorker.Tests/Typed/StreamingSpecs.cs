using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Models;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>Generation as an IAsyncEnumerable&lt;string&gt; on a real worker with the tiny random-weight GPT-2.</summary>
    [TestFixture]
    public class StreamingSpecs
    {
        /// <summary>Pieces as reported, synchronously, on the connection's reader thread: the worker's order.</summary>
        private sealed class InOrder : IProgress<string>
        {
            public readonly List<string> Items = new List<string>();

            public void Report(string value)
            {
                lock (Items) Items.Add(value);
            }
        }

        private static GenerationOptions Greedy(int tokens)
        {
            var options = new GenerationOptions { MaxNewTokens = tokens, DoSample = false };
            options.Extra["min_new_tokens"] = tokens; // random weights might otherwise stop at once
            return options;
        }

        /// <summary>What <c>await foreach</c> does, written out for mcs; stops after <paramref name="most"/> pieces.</summary>
        private static async Task<List<string>> Take(IAsyncEnumerable<string> pieces, int most = int.MaxValue)
        {
            var seen = new List<string>();
            var enumerator = pieces.GetAsyncEnumerator();
            try
            {
                while (seen.Count < most && await enumerator.MoveNextAsync()) seen.Add(enumerator.Current);
            }
            finally
            {
                await enumerator.DisposeAsync();
            }
            return seen;
        }

        private static async Task<long> RunningHandlers(WorkerProcess worker)
        {
            var info = (Dictionary<string, object>)await worker.InvokeAsync("worker/info");
            return (long)info["running_handlers"];
        }

        [Test, Timeout(120000)]
        public async Task Streamed_pieces_come_in_order_and_make_up_the_generated_text()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var hf = new HfModels(worker);
                var generator = await hf.LoadAsync(TestEnvironment.TinyModel("text-generation"));
                var reported = new InOrder();
                var whole = await hf.GenerateAsync(generator, "hello world", Greedy(12), reported);

                var streamed = await Take(hf.GenerateStreamingAsync(generator, "hello world", Greedy(12)));

                Assert.That(streamed.Count, Is.GreaterThan(1), "streamed piece by piece, not as one result");
                Assert.That(streamed, Is.EqualTo(reported.Items), "the same pieces in the worker's order");
                Assert.That(string.Concat(streamed), Is.EqualTo(whole), "the pieces make up the generated text");

                var summarizer = await hf.LoadAsync(TestEnvironment.TinyModel("summarization"), new ModelLoadOptions { Task = "summarization" });
                var summary = await hf.SummarizeAsync(summarizer, "the quick brown fox jumps over the lazy dog", Greedy(5));
                var summaryPieces = await Take(hf.SummarizeStreamingAsync(summarizer, "the quick brown fox jumps over the lazy dog", Greedy(5)));
                Assert.That(string.Concat(summaryPieces), Is.EqualTo(summary));
            }
        }

        [Test, Timeout(120000)]
        public async Task Leaving_the_loop_early_stops_the_generation_on_the_worker()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var hf = new HfModels(worker);
                var generator = await hf.LoadAsync(TestEnvironment.TinyModel("text-generation"));
                // 4,000 tokens take this model half a minute or more; the spec waits a third of that for the stop.
                var leaving = Take(hf.GenerateStreamingAsync(generator, "hello world", Greedy(4000)), most: 3);
                Assert.That(await Task.WhenAny(leaving, Task.Delay(TimeSpan.FromSeconds(30))), Is.SameAs(leaving),
                    "leaving the loop waits for the whole generation instead of cancelling it");
                Assert.That(leaving.Result.Count, Is.EqualTo(3));

                var stopped = Stopwatch.StartNew();
                while (await RunningHandlers(worker) > 0)
                {
                    Assert.That(stopped.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the generation still runs on the worker");
                    await Task.Delay(50);
                }
                Assert.That(worker.InFlight, Is.EqualTo(0));

                // Cancelling the token given to the method ends the loop the same way, with OperationCanceledException.
                using (var cancel = new CancellationTokenSource())
                {
                    var enumerator = hf.GenerateStreamingAsync(generator, "hello world", Greedy(4000), cancel.Token).GetAsyncEnumerator();
                    try
                    {
                        Assert.That(await enumerator.MoveNextAsync(), Is.True);
                        cancel.Cancel();
                        await AsyncAssert.Throws<OperationCanceledException>(async () =>
                        {
                            while (await enumerator.MoveNextAsync())
                            {
                            }
                        });
                    }
                    finally
                    {
                        await enumerator.DisposeAsync();
                    }
                }
                stopped.Restart();
                while (await RunningHandlers(worker) > 0)
                {
                    Assert.That(stopped.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the cancelled generation still runs on the worker");
                    await Task.Delay(50);
                }
            }
        }
    }
}
