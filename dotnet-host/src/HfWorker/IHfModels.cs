using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Models;

namespace HfWorker
{
    /// <summary>
    /// The common tasks as typed calls: what <see cref="HfModels"/> offers, as an interface so that application
    /// code can be written against it and tested with a fake that starts no Python (every result type has a public
    /// constructor or settable properties for that). An adapter to other abstractions (Microsoft.Extensions.AI's
    /// <c>IEmbeddingGenerator</c> and <c>IChatClient</c>, say) needs nothing more than this (with
    /// <c>IHfModelsStreaming</c> for pieces as an <c>IAsyncEnumerable</c>).
    /// </summary>
    /// <remarks>The same on every target framework, so that an implementation compiled against one (netstandard2.0,
    /// say) loads on the others. The streaming methods, which need <c>IAsyncEnumerable</c>, are in
    /// <c>IHfModelsStreaming</c>, where the platform has it.</remarks>
    public interface IHfModels
    {
        /// <summary>
        /// Load <paramref name="model"/> (a hub id or a local folder) on every worker. <paramref name="stages"/>
        /// hears the loading stages ("resolving", "loading weights", "ready"...).
        /// </summary>
        Task<LoadedModel> LoadAsync(string model, ModelLoadOptions options = null, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Write <paramref name="model"/> (a hub id or a local folder) as a folder a .NET app runs with
        /// Microsoft.ML.OnnxRuntime, without Python: <c>model.onnx</c>, its tokenizer or image processor, its config and
        /// the manifest <c>hf-worker-export.json</c> (protocol.md, model/export). The graph comes from the worker's
        /// export cache when it is there. <paramref name="stages"/> hears the stages ("exporting", "checking",
        /// "writing", "ready"...). Never retried through a pool.
        /// </summary>
        Task<ExportResult> ExportAsync(string model, ExportOptions options, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Export a loaded model (its files, task and options; from its float32 weights, whatever it runs in): see the other overload.</summary>
        Task<ExportResult> ExportAsync(LoadedModel model, ExportOptions options, IProgress<string> stages = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Run any task with raw inputs and parameters; the result as plain .NET values (see
        /// <see cref="MessagePack.MessagePackReader.ReadValue"/>): the escape hatch for tasks without a typed method.
        /// </summary>
        Task<object> RunAsync(LoadedModel model, object inputs, IDictionary<string, object> parameters = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Run any task with raw inputs and parameters, and read its result with <paramref name="readResult"/>.</summary>
        Task<T> RunAsync<T>(LoadedModel model, object inputs, IDictionary<string, object> parameters, ResultReader<T> readResult,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>One text's embedding (sentence-embeddings models: pooled and normalised as the model says).</summary>
        Task<float[]> EmbedAsync(LoadedModel model, string text, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Several texts' embeddings, in order, in one call (the worker batches them).</summary>
        Task<float[][]> EmbedAsync(LoadedModel model, IReadOnlyList<string> texts, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Embed texts and keep the <c>[n, dim]</c> matrix in the worker, for <see cref="SearchAsync(TensorHandle, string, LoadedModel, int, string, CancellationToken)"/>.</summary>
        Task<TensorHandle> EmbedAndKeepAsync(LoadedModel model, IReadOnlyList<string> texts, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Labels and scores for text, an image or audio (text-, image- and audio-classification), best
        /// first: the top one, or the <paramref name="topK"/> best.
        /// </summary>
        Task<IReadOnlyList<Classification>> ClassifyAsync(LoadedModel model, ModelInput input, int? topK = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Zero-shot classification of text against <paramref name="labels"/>, best first.</summary>
        Task<IReadOnlyList<Classification>> ClassifyAsync(LoadedModel model, string text, IReadOnlyList<string> labels,
            bool multiLabel = false, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// A summary of <paramref name="text"/>; with <paramref name="pieces"/>, each new piece as it is generated,
        /// reported synchronously on the connection's reader thread (keep it quick). A <see cref="Progress{T}"/>
        /// posts each report to the thread pool (or the captured context), so a console app can see pieces out of
        /// order: use <c>SummarizeStreamingAsync</c>, or an <see cref="IProgress{T}"/> of your own.
        /// </summary>
        Task<string> SummarizeAsync(LoadedModel model, string text, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// The text generated after <paramref name="prompt"/> (without the prompt, unless the Extra option
        /// "return_full_text" says otherwise); with <paramref name="pieces"/>, each piece as it is generated (as
        /// with <see cref="SummarizeAsync"/>, a <see cref="Progress{T}"/> may see them out of order).
        /// </summary>
        Task<string> GenerateAsync(LoadedModel model, string prompt, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>A caption for an image (image-to-text); with <paramref name="pieces"/>, streamed (see <see cref="SummarizeAsync"/>).</summary>
        Task<string> CaptionAsync(LoadedModel model, ModelInput image, GenerationOptions options = null, IProgress<string> pieces = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>The text of an audio input (automatic-speech-recognition); with timestamps, its chunks too.</summary>
        Task<Transcription> TranscribeAsync(LoadedModel model, ModelInput audio, bool timestamps = false, string language = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// An image from <paramref name="prompt"/> (text-to-image: a diffusers pipeline), with its size and the seed
        /// that made it; with <see cref="ImageGenerationOptions.Keep"/>, kept in the worker as a tensor.
        /// <paramref name="progress"/> hears every denoising step (and a preview every
        /// <see cref="ImageGenerationOptions.PreviewEvery"/> steps), synchronously on the connection's reader thread.
        /// Cancelling stops the pipeline within one step: <see cref="OperationCanceledException"/>, and no image.
        /// </summary>
        Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Image-to-image: <paramref name="image"/> (a file, its bytes, or a kept image tensor) redrawn after
        /// <paramref name="prompt"/>, as far as <see cref="ImageGenerationOptions.Strength"/> says.
        /// </summary>
        Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ModelInput image, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Inpainting: the white parts of <paramref name="mask"/> repainted in <paramref name="image"/> after
        /// <paramref name="prompt"/>. Both may be files, bytes or kept tensors (kept ones on the same worker).
        /// </summary>
        Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ModelInput image, ModelInput mask,
            ImageGenerationOptions options = null, IProgress<ImageGenerationProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// <see cref="ImageGenerationOptions.Count"/> images from one prompt in one pipeline call, each with its own
        /// seed (see <see cref="GenerateImageAsync(LoadedModel, string, ImageGenerationOptions, IProgress{ImageGenerationProgress}, CancellationToken)"/>).
        /// </summary>
        Task<IReadOnlyList<GeneratedImage>> GenerateImagesAsync(LoadedModel model, string prompt, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// <paramref name="text"/> spoken (text-to-speech): a WAV file's bytes with its sampling rate and length; with
        /// <see cref="SpeechOptions.Keep"/>, the waveform kept in the worker as a tensor.
        /// </summary>
        Task<SynthesizedSpeech> SynthesizeSpeechAsync(LoadedModel model, string text, SpeechOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// As <see cref="SynthesizeSpeechAsync(LoadedModel, string, SpeechOptions, CancellationToken)"/>, reporting
        /// <paramref name="progress"/> as the worker goes (<see cref="SpeechProgress"/>).
        /// </summary>
        Task<SynthesizedSpeech> SynthesizeSpeechAsync(LoadedModel model, string text, SpeechOptions options,
            IProgress<SpeechProgress> progress, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Keep a float32 tensor in a worker.</summary>
        Task<TensorHandle> PutTensorAsync(float[] values, int[] shape, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>Keep a tensor given as raw little-endian C-order bytes of <paramref name="dtype"/>.</summary>
        Task<TensorHandle> PutTensorAsync(byte[] data, string dtype, int[] shape, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// A kept tensor's contents, read on the worker that keeps it. <see cref="Exceptions.TensorLostException"/>
        /// when that worker has ended.
        /// </summary>
        Task<Tensor> GetTensorAsync(TensorHandle tensor, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Free kept tensors (one call per worker holding some of them); the bytes freed, summed over the workers.
        /// A tensor whose worker has ended is skipped: it ended with the worker.
        /// </summary>
        Task<long> FreeTensorsAsync(IEnumerable<TensorHandle> tensors, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Rank the rows of a kept <paramref name="corpus"/> against <paramref name="query"/>, embedded by
        /// <paramref name="embedder"/> in the worker; only the ranking comes back. Metric: "cosine", "dot" or "l2".
        /// <see cref="Exceptions.TensorLostException"/> when the corpus's worker has ended.
        /// </summary>
        Task<IReadOnlyList<SearchHit>> SearchAsync(TensorHandle corpus, string query, LoadedModel embedder, int topK = 10,
            string metric = "cosine", CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Rank the rows of a kept <paramref name="corpus"/> against a query vector.
        /// <see cref="Exceptions.TensorLostException"/> when the corpus's worker has ended.
        /// </summary>
        Task<IReadOnlyList<SearchHit>> SearchAsync(TensorHandle corpus, float[] query, int topK = 10, string metric = "cosine",
            CancellationToken cancellationToken = default(CancellationToken));
    }
}
