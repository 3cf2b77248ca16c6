using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.MessagePack;
using HfWorker.Models;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Typed
{
    /// <summary>
    /// Application code written against <see cref="IHfModels"/> and <see cref="IWorkerInvoker"/>, tested with a
    /// hand-written fake invoker: no Python, no process, and the real typed layer on top.
    /// </summary>
    [TestFixture]
    public class FakeInvokerSpecs
    {
        /// <summary>Answers model/load, model/run (embeddings, or a streamed generation) and tensor/search from memory.</summary>
        private sealed class FakeInvoker : IWorkerInvoker
        {
            public readonly List<string> Methods = new List<string>();

            public Task<T> InvokeAsync<T>(Invocation<T> invocation, CancellationToken cancellationToken = default(CancellationToken))
            {
                lock (Methods) Methods.Add(invocation.Method);
                var parameters = (IDictionary<string, object>)invocation.ParametersOn(null);
                var result = new MessagePackWriter();
                switch (invocation.Method)
                {
                    case "model/run":
                        Assert.That(parameters["handle"], Is.EqualTo("fake-1"), "the fake's handle is sent");
                        if (invocation.WantsProgress)
                        {
                            foreach (var piece in new[] { "once", " upon", " a", " time" })
                            {
                                var progress = new MessagePackWriter();
                                progress.WriteValue(new Dictionary<string, object> { { "index", 0 }, { "text", piece } });
                                invocation.ReportProgress(progress.WrittenBytes);
                            }
                            result.WriteValue(new Dictionary<string, object> { { "generated_text", "once upon a time" } });
                        }
                        else
                        {
                            var text = (string)parameters["inputs"];
                            result.WriteArrayHeader(2);
                            result.WriteSingle(text.Length);
                            result.WriteSingle(1f);
                        }
                        break;
                    case "tensor/search":
                        result.WriteValue(new object[] { new Dictionary<string, object> { { "index", 2 }, { "score", 0.9 } } });
                        break;
                    default:
                        throw new NotSupportedException(invocation.Method);
                }
                return Task.FromResult(invocation.ReadResult(new MessagePackReader(result.ToArray()), null));
            }

            public Task<IWorkerSetup<T>> SetUpAsync<T>(Invocation<T> setUp, Func<T, Invocation<object>> tearDown,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                Assert.That(setUp.Method, Is.EqualTo("model/load"));
                var info = new MessagePackWriter();
                info.WriteValue(new Dictionary<string, object> { { "handle", "fake-1" }, { "task", "text-generation" }, { "model", "fake" } });
                IWorkerSetup<T> setup = new OneSetup<T>(setUp.Method, setUp.ReadResult(new MessagePackReader(info.ToArray()), null));
                return Task.FromResult(setup);
            }
        }

        /// <summary>A set-up with one result for every worker (a fake has none).</summary>
        private sealed class OneSetup<T> : IWorkerSetup<T>
        {
            private readonly T _result;

            public OneSetup(string method, T result)
            {
                Method = method;
                _result = result;
            }

            public string Method { get; private set; }

            public IReadOnlyCollection<WorkerProcess> Workers
            {
                get { return new WorkerProcess[0]; }
            }

            public bool Removed { get; private set; }

            public T AnyResult
            {
                get { return _result; }
            }

            public T ResultOn(WorkerProcess worker)
            {
                return _result;
            }

            public bool TryGetResultOn(WorkerProcess worker, out T result)
            {
                result = _result;
                return true;
            }

            public Task RemoveAsync(CancellationToken cancellationToken = default(CancellationToken))
            {
                Removed = true;
                return Task.FromResult(0);
            }
        }

        /// <summary>Application code: it knows only the interface.</summary>
        private static async Task<string> Story(IHfModelsStreaming models)
        {
            var model = await models.LoadAsync("fake");
            var text = new List<string>();
            var pieces = models.GenerateStreamingAsync(model, "tell me a story").GetAsyncEnumerator();
            try
            {
                while (await pieces.MoveNextAsync()) text.Add(pieces.Current);
            }
            finally
            {
                await pieces.DisposeAsync();
            }
            return string.Join("|", text);
        }

        [Test, Timeout(10000)]
        public async Task Application_code_runs_against_a_fake_invoker_without_python()
        {
            var fake = new FakeInvoker();
            IHfModelsStreaming models = new HfModels(fake);

            Assert.That(await Story(models), Is.EqualTo("once| upon| a| time"), "streamed through the real typed layer, in order");

            var model = await models.LoadAsync("fake");
            Assert.That(model.Task, Is.EqualTo("text-generation"));
            Assert.That(await models.EmbedAsync(model, "four"), Is.EqualTo(new[] { 4f, 1f }));
            var corpus = new TensorHandle("t-9", "float32", new[] { 3, 2 }, 24);
            var hits = await models.SearchAsync(corpus, new[] { 1f, 0f }, topK: 1);
            Assert.That(hits.Single().Index, Is.EqualTo(2));
            Assert.That(fake.Methods, Is.EqualTo(new[] { "model/run", "model/run", "tensor/search" }));
        }

        [Test]
        public void IHfModels_is_the_same_on_every_target_and_streaming_is_an_interface_of_its_own()
        {
            // An IHfModels compiled against netstandard2.0 must load on net8.0 and net10.0: no member of it may need
            // IAsyncEnumerable (a member only some targets have makes a TypeLoadException of the others).
            var members = typeof(IHfModels).GetMethods();
            Assert.That(members, Is.Not.Empty);
            foreach (var member in members)
            {
                Assert.That(member.ReturnType.IsGenericType && member.ReturnType.GetGenericTypeDefinition() == typeof(Task<>),
                    member.Name + " returns " + member.ReturnType + ": every IHfModels member is a Task<T> on every target");
            }
            var streaming = typeof(IHfModelsStreaming).GetMethods().Select(m => m.Name).ToArray();
            Assert.That(streaming, Is.EquivalentTo(new[] { "GenerateStreamingAsync", "SummarizeStreamingAsync", "CaptionStreamingAsync" }));
            Assert.That(typeof(IHfModels).IsAssignableFrom(typeof(IHfModelsStreaming)), "a streaming fake is an IHfModels too");
            Assert.That(typeof(IHfModelsStreaming).IsAssignableFrom(typeof(HfModels)));
        }

        [Test]
        public void A_fake_IHfModels_can_build_every_result_it_returns()
        {
            var model = new LoadedModel(new ModelInfo { Handle = "m-1", Task = "sentence-embeddings", Model = "fake" });
            Assert.That(model.HandleOn(null), Is.EqualTo("m-1"));
            Assert.That(model.Name, Is.EqualTo("fake"));
            var tensor = new TensorHandle("t-1", "float32", new[] { 2 }, 8);
            Assert.That(tensor.Worker, Is.Null);
            Assert.That(Tensor.FromSingles(new[] { 1f, 2f }, null).ToSingles(), Is.EqualTo(new[] { 1f, 2f }));
            var heard = new Transcription { Text = "hi" };
            Assert.That(heard.Chunks, Is.Empty);
            Assert.That(new Classification("cat", 0.9).Label, Is.EqualTo("cat"));
            Assert.That(new SearchHit(1, 0.5).Index, Is.EqualTo(1));
        }
    }
}
