using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Models;

namespace HfWorker
{
    /// <summary>
    /// The common tasks as typed calls, over a <see cref="WorkerProcess"/> or a <see cref="WorkerPool"/>:
    /// load a model, embed, classify, summarize, generate (streamed), transcribe, caption, and keep tensors
    /// in the worker to search them there. Results are plain .NET types. <see cref="RunAsync(LoadedModel, object, IDictionary{string, object}, CancellationToken)"/>
    /// reaches every other task with raw values. Application code can depend on <see cref="IHfModels"/> instead
    /// (and on <c>IHfModelsStreaming</c>, where the platform has <c>IAsyncEnumerable</c>, for pieces as a stream).
    /// </summary>
    /// <remarks>
    /// Through a pool, a model is loaded on every worker (and on every replacement before it takes calls),
    /// and calls that only read are marked safe to retry, so a worker dying costs a retry, not an error.
    /// Streamed calls are not retried (their pieces were already delivered). A tensor lives on the worker
    /// that made it; calls that name it go there, and fail with <see cref="TensorLostException"/> once it has ended.
    /// </remarks>
#if HFWORKER_ASYNC_INTERFACES
    public sealed partial class HfModels : IHfModelsStreaming
#else
    public sealed partial class HfModels : IHfModels
#endif
    {
        private readonly IWorkerInvoker _invoker;

        /// <summary>The typed layer over a worker, a pool, or any other invoker (a fake in a test).</summary>
        public HfModels(IWorkerInvoker invoker)
        {
            if (invoker == null) throw new ArgumentNullException("invoker");
            _invoker = invoker;
        }

        // ---- models --------------------------------------------------------------------------------

        /// <inheritdoc />
        public async Task<LoadedModel> LoadAsync(string model, ModelLoadOptions options = null, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (string.IsNullOrEmpty(model)) throw new ArgumentException("a model id or folder is required", "model");
            options = options ?? new ModelLoadOptions();
            var load = new Invocation<ModelInfo>("model/load", options.ToParams(model), ModelInfo.Read) { Timeout = options.Timeout };
            if (stages != null) load.ProgressReader = StageReader(stages);
            var setup = await _invoker.SetUpAsync(load, info => new Invocation<object>("model/unload",
                new Dictionary<string, object> { { "handle", info.Handle } }, r => r.ReadValue()), cancellationToken).ConfigureAwait(false);
            return new LoadedModel(setup);
        }

        /// <inheritdoc />
        public Task<ExportResult> ExportAsync(string model, ExportOptions options, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (string.IsNullOrEmpty(model)) throw new ArgumentException("a model id or folder is required", "model");
            if (options == null) throw new ArgumentNullException("options");
            return Export(_ => options.ToParams("model", model, false), options, stages, cancellationToken);
        }

        /// <inheritdoc />
        public Task<ExportResult> ExportAsync(LoadedModel model, ExportOptions options, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (model == null) throw new ArgumentNullException("model");
            if (options == null) throw new ArgumentNullException("options");
            options.ToParams("handle", "", true); // refuse bad options here, not on the worker's thread
            return Export(worker => options.ToParams("handle", model.HandleOn(worker), true), options, stages, cancellationToken);
        }

        private Task<ExportResult> Export(Func<WorkerProcess, object> parameters, ExportOptions options, IProgress<string> stages,
            CancellationToken cancellationToken)
        {
            // Not retried: an export that completed on a worker that then died has written its folder, and a second
            // export to it would be refused (the worker never overwrites).
            var export = new Invocation<ExportResult>("model/export", parameters, (r, w) => ExportResult.Read(r)) { Timeout = options.Timeout };
            if (stages != null) export.ProgressReader = StageReader(stages);
            return _invoker.InvokeAsync(export, cancellationToken);
        }

        /// <inheritdoc />
        public Task<object> RunAsync(LoadedModel model, object inputs, IDictionary<string, object> parameters = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return _invoker.InvokeAsync(Run(model, inputs, parameters, false, (r, w) => r.ReadValue()), cancellationToken);
        }

        /// <inheritdoc />
        public Task<T> RunAsync<T>(LoadedModel model, object inputs, IDictionary<string, object> parameters, ResultReader<T> readResult,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (readResult == null) throw new ArgumentNullException("readResult");
            return _invoker.InvokeAsync(Run(model, inputs, parameters, false, (r, w) => readResult(r)), cancellationToken);
        }

        // ---- embeddings ----------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<float[]> EmbedAsync(LoadedModel model, string text, CancellationToken cancellationToken = default(CancellationToken))
        {
            return _invoker.InvokeAsync(Run(model, text, null, false, (r, w) => ResultReading.ReadFloats(r)), cancellationToken);
        }

        /// <inheritdoc />
        public Task<float[][]> EmbedAsync(LoadedModel model, IReadOnlyList<string> texts, CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireSome(texts, "texts");
            return _invoker.InvokeAsync(Run(model, texts, null, false,
                (r, w) => ResultReading.ReadList(r, ResultReading.ReadFloats).ToArray()), cancellationToken);
        }

        /// <inheritdoc />
        public Task<TensorHandle> EmbedAndKeepAsync(LoadedModel model, IReadOnlyList<string> texts, CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireSome(texts, "texts");
            return _invoker.InvokeAsync(Run(model, texts, null, true, TensorHandle.Read), cancellationToken);
        }

        // ---- classification ------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<IReadOnlyList<Classification>> ClassifyAsync(LoadedModel model, ModelInput input, int? topK = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (input == null) throw new ArgumentNullException("input");
            var parameters = topK.HasValue ? new Dictionary<string, object> { { "top_k", topK.Value } } : null;
            return InvokePinned(Run<IReadOnlyList<Classification>>(model, input, parameters, false,
                (r, w) => ResultReading.ReadOneOrMany(r, Classification.Read), input.Tensor), input.Tensor, "input", cancellationToken);
        }

        /// <inheritdoc />
        public Task<IReadOnlyList<Classification>> ClassifyAsync(LoadedModel model, string text, IReadOnlyList<string> labels,
            bool multiLabel = false, CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireSome(labels, "labels");
            var parameters = new Dictionary<string, object> { { "candidate_labels", labels }, { "multi_label", multiLabel } };
            return _invoker.InvokeAsync(Run<IReadOnlyList<Classification>>(model, text, parameters, false, (r, w) => ReadZeroShot(r)),
                cancellationToken);
        }

        // ---- generation ----------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<string> SummarizeAsync(LoadedModel model, string text, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return Generate(model, text, Parameters(options), "summary_text", pieces, null, cancellationToken);
        }

        /// <inheritdoc />
        public Task<string> GenerateAsync(LoadedModel model, string prompt, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var parameters = Parameters(options);
            if (!parameters.ContainsKey("return_full_text")) parameters["return_full_text"] = false;
            return Generate(model, prompt, parameters, "generated_text", pieces, null, cancellationToken);
        }

        /// <inheritdoc />
        public Task<string> CaptionAsync(LoadedModel model, ModelInput image, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (image == null) throw new ArgumentNullException("image");
            return Generate(model, image, Parameters(options), "generated_text", pieces, image.Tensor, cancellationToken);
        }

#if HFWORKER_ASYNC_INTERFACES
        /// <inheritdoc />
        public IAsyncEnumerable<string> GenerateStreamingAsync(LoadedModel model, string prompt, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireModelAndInput(model, prompt, "prompt");
            return new GeneratedPieces((pieces, token) => GenerateAsync(model, prompt, options, pieces, token), cancellationToken);
        }

        /// <inheritdoc />
        public IAsyncEnumerable<string> SummarizeStreamingAsync(LoadedModel model, string text, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireModelAndInput(model, text, "text");
            return new GeneratedPieces((pieces, token) => SummarizeAsync(model, text, options, pieces, token), cancellationToken);
        }

        /// <inheritdoc />
        public IAsyncEnumerable<string> CaptionStreamingAsync(LoadedModel model, ModelInput image, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireModelAndInput(model, image, "image");
            return new GeneratedPieces((pieces, token) => CaptionAsync(model, image, options, pieces, token), cancellationToken);
        }
#endif

        // ---- speech --------------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<Transcription> TranscribeAsync(LoadedModel model, ModelInput audio, bool timestamps = false, string language = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (audio == null) throw new ArgumentNullException("audio");
            // Without timestamps the parameter is left out: CTC pipelines refuse an explicit false.
            var parameters = new Dictionary<string, object>();
            if (timestamps) parameters["return_timestamps"] = true;
            if (language != null) parameters["language"] = language;
            return InvokePinned(Run(model, audio, parameters, false, (r, w) => Transcription.Read(r), audio.Tensor), audio.Tensor, "input", cancellationToken);
        }

        // ---- tensors -------------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<TensorHandle> PutTensorAsync(float[] values, int[] shape, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (values == null) throw new ArgumentNullException("values");
            return PutTensorAsync(Floats.ToLittleEndian(values), "float32", shape, cancellationToken);
        }

        /// <inheritdoc />
        public Task<TensorHandle> PutTensorAsync(byte[] data, string dtype, int[] shape, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (data == null) throw new ArgumentNullException("data");
            if (shape == null) throw new ArgumentNullException("shape");
            var parameters = new Dictionary<string, object> { { "data", data }, { "dtype", dtype }, { "shape", shape } };
            var put = new Invocation<TensorHandle>("tensor/put", _ => parameters, TensorHandle.Read) { SafeToRetry = true };
            return _invoker.InvokeAsync(put, cancellationToken);
        }

        /// <inheritdoc />
        public Task<Tensor> GetTensorAsync(TensorHandle tensor, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (tensor == null) throw new ArgumentNullException("tensor");
            var get = new Invocation<Tensor>("tensor/get", _ => new Dictionary<string, object> { { "handle", tensor.Id } }, (r, w) => Tensor.Read(r))
            {
                Affinity = tensor.Worker,
            };
            return InvokePinned(get, tensor, "tensor", cancellationToken);
        }

        /// <inheritdoc />
        public async Task<long> FreeTensorsAsync(IEnumerable<TensorHandle> tensors, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (tensors == null) throw new ArgumentNullException("tensors");
            var calls = tensors.GroupBy(t => t.Worker).Select(group => FreeOn(group.Key, group.Select(t => t.Id).Distinct().ToArray(), cancellationToken));
            var freed = await Task.WhenAll(calls.ToList()).ConfigureAwait(false);
            return freed.Sum();
        }

        /// <inheritdoc />
        public Task<IReadOnlyList<SearchHit>> SearchAsync(TensorHandle corpus, string query, LoadedModel embedder, int topK = 10,
            string metric = "cosine", CancellationToken cancellationToken = default(CancellationToken))
        {
            if (corpus == null) throw new ArgumentNullException("corpus");
            if (query == null) throw new ArgumentNullException("query");
            if (embedder == null) throw new ArgumentNullException("embedder");
            return Search(corpus, worker => new Dictionary<string, object> { { "text", query }, { "model", embedder.HandleOn(worker) } },
                topK, metric, cancellationToken);
        }

        /// <inheritdoc />
        public Task<IReadOnlyList<SearchHit>> SearchAsync(TensorHandle corpus, float[] query, int topK = 10, string metric = "cosine",
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (corpus == null) throw new ArgumentNullException("corpus");
            if (query == null) throw new ArgumentNullException("query");
            return Search(corpus, _ => query, topK, metric, cancellationToken);
        }

        // ---- helpers -------------------------------------------------------------------------------

        private Task<IReadOnlyList<SearchHit>> Search(TensorHandle corpus, Func<WorkerProcess, object> query, int topK, string metric,
            CancellationToken cancellationToken)
        {
            if (topK < 1) throw new ArgumentOutOfRangeException("topK", "topK must be at least 1");
            var search = new Invocation<IReadOnlyList<SearchHit>>("tensor/search",
                worker => new Dictionary<string, object> { { "query", query(worker) }, { "corpus", corpus.Id }, { "top_k", topK }, { "metric", metric } },
                (r, w) => ResultReading.ReadList(r, SearchHit.Read))
            {
                Affinity = corpus.Worker,
            };
            return InvokePinned(search, corpus, "corpus", cancellationToken);
        }

        /// <summary>
        /// A call pinned to the worker keeping <paramref name="tensor"/> (none when it is null). Once that worker has
        /// ended, the tensor has too: the call fails saying so, not as an unanswered call of a crashed worker.
        /// </summary>
        private async Task<T> InvokePinned<T>(Invocation<T> call, TensorHandle tensor, string role, CancellationToken cancellationToken)
        {
            var worker = tensor == null ? null : tensor.Worker;
            if (worker != null)
            {
                var exit = worker.ExitInfo;
                if (exit != null) throw new TensorLostException(tensor, role, call.Method, exit);
            }
            try
            {
                return await _invoker.InvokeAsync(call, cancellationToken).ConfigureAwait(false);
            }
            catch (WorkerExitedException e) when (worker != null && !(e is TensorLostException) && e.ExitInfo.ProcessId == worker.ProcessId)
            {
                throw new TensorLostException(tensor, role, call.Method, e.ExitInfo);
            }
        }

        /// <summary>Free <paramref name="handles"/> on <paramref name="worker"/>; bytes freed. Nothing to free on a worker that ended.</summary>
        private async Task<long> FreeOn(WorkerProcess worker, string[] handles, CancellationToken cancellationToken)
        {
            if (worker != null && worker.HasExited) return 0;
            var free = new Invocation<long>("tensor/free", _ => new Dictionary<string, object> { { "handles", handles } }, (r, w) => ReadFreedBytes(r))
            {
                Affinity = worker,
            };
            try
            {
                return await _invoker.InvokeAsync(free, cancellationToken).ConfigureAwait(false);
            }
            catch (WorkerExitedException e) when (worker != null && e.ExitInfo.ProcessId == worker.ProcessId)
            {
                return 0;
            }
        }

        private static long ReadFreedBytes(MessagePackReader reader)
        {
            long freed = 0;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key != "freed_bytes") return false;
                freed = r.ReadInt64();
                return true;
            });
            return freed;
        }

        /// <summary>Reads <c>{"stage": str, ...}</c> progress (model/load, model/export) into <paramref name="stages"/>.</summary>
        private static Action<MessagePackReader> StageReader(IProgress<string> stages)
        {
            return reader => ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key != "stage") return false;
                stages.Report(r.ReadString());
                return true;
            });
        }

        private Task<string> Generate(LoadedModel model, object input, Dictionary<string, object> parameters, string member,
            IProgress<string> pieces, TensorHandle pinned, CancellationToken cancellationToken)
        {
            var run = Run(model, input, parameters, false, (r, w) => ReadGenerated(r, member), pinned);
            if (pieces != null)
            {
                // Pieces already delivered cannot be taken back: a streamed call is never retried.
                run.SafeToRetry = false;
                run.ProgressReader = reader => ResultReading.ReadMap(reader, (key, r) =>
                {
                    if (key != "text") return false;
                    pieces.Report(r.ReadString());
                    return true;
                });
            }
            return InvokePinned(run, pinned, "input", cancellationToken);
        }

        private static Invocation<T> Run<T>(LoadedModel model, object inputs, IDictionary<string, object> parameters, bool keep,
            Func<MessagePackReader, WorkerProcess, T> read, TensorHandle pinned = null)
        {
            if (model == null) throw new ArgumentNullException("model");
            if (inputs == null) throw new ArgumentNullException("inputs");
            return new Invocation<T>("model/run", worker =>
            {
                var parameterMap = new Dictionary<string, object> { { "handle", model.HandleOn(worker) }, { "inputs", inputs } };
                if (parameters != null && parameters.Count > 0) parameterMap["parameters"] = parameters;
                if (keep) parameterMap["keep"] = true;
                return parameterMap;
            }, read)
            {
                SafeToRetry = true,
                Affinity = pinned == null ? null : pinned.Worker,
            };
        }

        private static Dictionary<string, object> Parameters(GenerationOptions options)
        {
            return options == null ? new Dictionary<string, object>() : options.ToParameters();
        }

        private static string ReadGenerated(MessagePackReader reader, string member)
        {
            var texts = ResultReading.ReadOneOrMany(reader, r =>
            {
                string text = null;
                ResultReading.ReadMap(r, (key, value) =>
                {
                    if (key != member) return false;
                    text = value.ReadString();
                    return true;
                });
                return text;
            });
            if (texts.Count == 0 || texts[0] == null) throw ResultReading.Missing("the generation result", member);
            return texts[0];
        }

        private static IReadOnlyList<Classification> ReadZeroShot(MessagePackReader reader)
        {
            List<string> labels = null;
            List<double> scores = null;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "labels") labels = ResultReading.ReadList(r, x => x.ReadString());
                else if (key == "scores") scores = ResultReading.ReadList(r, x => x.ReadDouble());
                else return false;
                return true;
            });
            if (labels == null || scores == null || labels.Count != scores.Count) throw ResultReading.Missing("a zero-shot result", "labels and scores");
            return labels.Select((label, i) => new Classification(label, scores[i])).ToList();
        }

        private static void RequireModelAndInput(LoadedModel model, object input, string name)
        {
            if (model == null) throw new ArgumentNullException("model");
            if (input == null) throw new ArgumentNullException(name);
        }

        private static void RequireSome<T>(IReadOnlyList<T> items, string name)
        {
            if (items == null) throw new ArgumentNullException(name);
            if (items.Count == 0) throw new ArgumentException(name + " must not be empty", name);
        }
    }
}
