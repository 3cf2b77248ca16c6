#if HFWORKER_ASYNC_INTERFACES
using System.Collections.Generic;
using System.Threading;
using HfWorker.Models;

namespace HfWorker
{
    /// <summary>
    /// <see cref="IHfModels"/> with generated pieces as an <see cref="IAsyncEnumerable{T}"/>, where the platform has
    /// it (net8.0, net10.0, Mono: the symbol <c>HFWORKER_ASYNC_INTERFACES</c>; not netstandard2.0).
    /// <see cref="HfModels"/> implements it there. A separate interface, so that <see cref="IHfModels"/> is the
    /// same on every target and an implementation of it compiled against one target loads on all.
    /// </summary>
    public interface IHfModelsStreaming : IHfModels
    {
        /// <summary>
        /// The generated text as it is generated, piece by piece, in order (the pieces concatenate to what
        /// <see cref="IHfModels.GenerateAsync"/> returns). Nothing is sent until the loop starts; each enumeration is one
        /// generation. Leaving the loop early (<c>break</c>, an exception), or cancelling
        /// <paramref name="cancellationToken"/> or the enumerator's token, cancels the generation on the worker.
        /// Never retried: the pieces already seen cannot be taken back.
        /// </summary>
        IAsyncEnumerable<string> GenerateStreamingAsync(LoadedModel model, string prompt, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>A summary as it is generated, piece by piece, in order (see <see cref="GenerateStreamingAsync"/>).</summary>
        IAsyncEnumerable<string> SummarizeStreamingAsync(LoadedModel model, string text, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>A caption as it is generated, piece by piece, in order (see <see cref="GenerateStreamingAsync"/>).</summary>
        IAsyncEnumerable<string> CaptionStreamingAsync(LoadedModel model, ModelInput image, GenerationOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken));
    }
}
#endif
