using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Models;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>The typed layer on a real worker: the bundled MiniLM, and tiny random-weight models for the other tasks.</summary>
    [TestFixture]
    public class HfModelsSpecs
    {
        private const string MiniLm = "sentence-transformers/all-MiniLM-L6-v2";

        private sealed class Collect : IProgress<string>
        {
            public readonly List<string> Items = new List<string>();

            public void Report(string value)
            {
                lock (Items) Items.Add(value);
            }
        }

        private static double Norm(float[] v)
        {
            return Math.Sqrt(v.Sum(x => (double)x * x));
        }

        [Test, Timeout(120000)]
        public async Task Embeddings_from_the_bundled_MiniLM_can_be_kept_and_searched_in_the_worker()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var hf = new HfModels(worker);
                var stages = new Collect();
                var model = await hf.LoadAsync(MiniLm, new ModelLoadOptions { Device = "cpu" }, stages);
                Assert.That(model.Task, Is.EqualTo("sentence-embeddings"));
                Assert.That(model.Info.Parameters, Is.GreaterThan(20000000));
                Assert.That(stages.Items.Last(), Is.EqualTo("ready"));

                var one = await hf.EmbedAsync(model, "A cat sleeps on the sofa.");
                Assert.That(one.Length, Is.EqualTo(384));
                Assert.That(Norm(one), Is.EqualTo(1.0).Within(1e-4), "the model's Normalize module is applied");

                var sentences = new[] { "It will rain tomorrow.", "A cat sleeps on the sofa.", "The stock market fell.", "Kittens love long naps." };
                var many = await hf.EmbedAsync(model, sentences);
                Assert.That(many.Length, Is.EqualTo(4));
                Assert.That(many[1], Is.EqualTo(one).Within(1e-4f), "a sentence embeds the same alone or in a batch");

                var corpus = await hf.EmbedAndKeepAsync(model, sentences);
                Assert.That(corpus.Shape, Is.EqualTo(new[] { 4, 384 }));
                Assert.That(corpus.DType, Is.EqualTo("float32"));
                Assert.That(corpus.Worker, Is.SameAs(worker));

                var byText = await hf.SearchAsync(corpus, "a sleeping kitten", model, topK: 2);
                Assert.That(byText.Select(h => h.Index), Is.EquivalentTo(new[] { 1, 3 }), "the two sentences about cats");
                var byVector = await hf.SearchAsync(corpus, one, topK: 1);
                Assert.That(byVector[0].Index, Is.EqualTo(1));
                Assert.That(byVector[0].Score, Is.EqualTo(1.0).Within(1e-4));

                var kept = await hf.GetTensorAsync(corpus);
                Assert.That(kept.Shape, Is.EqualTo(new[] { 4, 384 }));
                Assert.That(kept.ToSingles().Skip(384).Take(384).ToArray(), Is.EqualTo(one).Within(1e-4f));

                await hf.FreeTensorsAsync(new[] { corpus });
                var freed = await AsyncAssert.Throws<WorkerRpcException>(() => hf.GetTensorAsync(corpus));
                Assert.That(freed.ErrorCode, Is.EqualTo(RpcErrorCode.UnknownHandle));

                await model.UnloadAsync();
                var models = (Dictionary<string, object>)await worker.InvokeAsync("model/list");
                Assert.That((object[])models["models"], Is.Empty);
            }
        }

        [Test, Timeout(120000)]
        public async Task Text_tasks_return_typed_results_and_generation_streams_its_pieces()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var hf = new HfModels(worker);
                var classifier = await hf.LoadAsync(TestEnvironment.TinyModel("text-classification"));
                var best = await hf.ClassifyAsync(classifier, "the quick brown fox");
                Assert.That(best.Count, Is.EqualTo(1));
                Assert.That(best[0].Label, Is.EqualTo("NEGATIVE").Or.EqualTo("POSITIVE"));
                var both = await hf.ClassifyAsync(classifier, "the quick brown fox", topK: 2);
                Assert.That(both.Select(c => c.Label), Is.EquivalentTo(new[] { "NEGATIVE", "POSITIVE" }));
                Assert.That(both[0].Score, Is.GreaterThanOrEqualTo(both[1].Score), "best first");
                Assert.That(both.Sum(c => c.Score), Is.EqualTo(1.0).Within(1e-4));

                var zeroShot = await hf.LoadAsync(TestEnvironment.TinyModel("zero-shot-classification"), new ModelLoadOptions { Task = "zero-shot-classification" });
                var candidates = await hf.ClassifyAsync(zeroShot, "the quick brown fox", new[] { "animals", "finance", "weather" });
                Assert.That(candidates.Select(c => c.Label), Is.EquivalentTo(new[] { "animals", "finance", "weather" }));
                Assert.That(candidates.Select(c => c.Score), Is.Ordered.Descending, "best first");

                var generator = await hf.LoadAsync(TestEnvironment.TinyModel("text-generation"));
                var pieces = new Collect();
                var generation = new GenerationOptions { MaxNewTokens = 6 };
                generation.Extra["min_new_tokens"] = 4; // random weights might otherwise stop at once
                var generated = await hf.GenerateAsync(generator, "hello world", generation, pieces);
                Assert.That(pieces.Items, Is.Not.Empty);
                Assert.That(string.Concat(pieces.Items), Is.EqualTo(generated), "the pieces make up the text");
                Assert.That(generated.StartsWith("hello world"), Is.False, "the prompt is not repeated");

                var summarizer = await hf.LoadAsync(TestEnvironment.TinyModel("summarization"), new ModelLoadOptions { Task = "summarization" });
                var options = new GenerationOptions { MaxNewTokens = 5 };
                options.Extra["min_new_tokens"] = 3;
                var summaryPieces = new Collect();
                var summary = await hf.SummarizeAsync(summarizer, "the quick brown fox jumps over the lazy dog", options, summaryPieces);
                Assert.That(summaryPieces.Items, Is.Not.Empty);
                Assert.That(string.Concat(summaryPieces.Items), Is.EqualTo(summary));

                var raw = (object[])await hf.RunAsync(classifier, new[] { "one", "two" });
                Assert.That(raw.Length, Is.EqualTo(2), "one result per input");
            }
        }

        [Test, Timeout(120000)]
        public async Task Audio_and_image_inputs_go_as_files_or_bytes_and_come_back_typed()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                var hf = new HfModels(worker);
                var wav = TestEnvironment.TinyModel("tone.wav");
                var png = TestEnvironment.TinyModel("picture.png");

                var speech = await hf.LoadAsync(TestEnvironment.TinyModel("automatic-speech-recognition"));
                var fromFile = await hf.TranscribeAsync(speech, ModelInput.File(wav));
                var fromBytes = await hf.TranscribeAsync(speech, ModelInput.Bytes(File.ReadAllBytes(wav)));
                Assert.That(fromFile.Text, Is.Not.Null);
                Assert.That(fromBytes.Text, Is.EqualTo(fromFile.Text), "the same audio, however it is sent");
                Assert.That(fromFile.Chunks, Is.Empty);
                var timed = await hf.TranscribeAsync(speech, ModelInput.File(wav), timestamps: true);
                Assert.That(timed.Chunks, Is.Not.Empty);
                Assert.That(timed.Chunks.All(c => c.Start.HasValue), Is.True);

                var images = await hf.LoadAsync(TestEnvironment.TinyModel("image-classification"));
                var labels = await hf.ClassifyAsync(images, ModelInput.File(png), topK: 2);
                Assert.That(labels.Select(l => l.Label), Is.EquivalentTo(new[] { "circle", "square" }));

                var captioner = await hf.LoadAsync(TestEnvironment.TinyModel("image-to-text"));
                var pieces = new Collect();
                var caption = await hf.CaptionAsync(captioner, ModelInput.Bytes(File.ReadAllBytes(png)), new GenerationOptions { MaxNewTokens = 4 }, pieces);
                Assert.That(caption, Is.Not.Null);
                Assert.That(string.Concat(pieces.Items), Is.EqualTo(caption));

                var notAnImage = await AsyncAssert.Throws<WorkerRpcException>(() => hf.ClassifyAsync(images, ModelInput.Bytes(Encoding.UTF8.GetBytes("not a png"))));
                Assert.That(notAnImage.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidInput));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_tensor_lives_on_the_worker_that_made_it_and_dies_with_it()
        {
            using (var pool = await Pool.PoolTesting.Start(2))
            {
                var hf = new HfModels(pool);
                var tensor = await hf.PutTensorAsync(new[] { 1f, 2f, 3f, 4f }, new[] { 2, 2 });
                Assert.That(tensor.Shape, Is.EqualTo(new[] { 2, 2 }));
                Assert.That(pool.Workers, Has.Member(tensor.Worker));
                for (int i = 0; i < 4; i++)
                {
                    var back = await hf.GetTensorAsync(tensor);
                    Assert.That(back.ToSingles(), Is.EqualTo(new[] { 1f, 2f, 3f, 4f }), "always read from its own worker");
                }
                var hits = await hf.SearchAsync(tensor, new[] { 3f, 4f }, topK: 1, metric: "dot");
                Assert.That(hits[0].Index, Is.EqualTo(1));
                Pool.PoolTesting.KillFromOutside(tensor.Worker);
                var lost = await AsyncAssert.Throws<WorkerCrashedException>(() => hf.GetTensorAsync(tensor));
                Assert.That(lost.ExitCode, Is.EqualTo(137));
                Assert.That(lost.Method, Is.EqualTo("tensor/get"));
            }
        }
    }
}
