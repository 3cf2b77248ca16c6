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
    // Images and speech out: text-to-image, image-to-image, inpainting and text-to-speech as typed calls.
    // (HfWorker.Exceptions is here for the class summary in HfModels.cs: mcs resolves its crefs in this file.)
    public sealed partial class HfModels
    {
        // ---- images --------------------------------------------------------------------------------

        /// <inheritdoc />
        public async Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            RequireOneImage(options);
            var images = await GenerateImagesAsync(model, prompt, options, progress, cancellationToken).ConfigureAwait(false);
            return images[0];
        }

        /// <inheritdoc />
        public async Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ModelInput image, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (image == null) throw new ArgumentNullException("image");
            RequireOneImage(options);
            var images = await GenerateImages(model, prompt, image, null, options, progress, cancellationToken).ConfigureAwait(false);
            return images[0];
        }

        /// <inheritdoc />
        public async Task<GeneratedImage> GenerateImageAsync(LoadedModel model, string prompt, ModelInput image, ModelInput mask,
            ImageGenerationOptions options = null, IProgress<ImageGenerationProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (image == null) throw new ArgumentNullException("image");
            if (mask == null) throw new ArgumentNullException("mask");
            RequireOneImage(options);
            var images = await GenerateImages(model, prompt, image, mask, options, progress, cancellationToken).ConfigureAwait(false);
            return images[0];
        }

        /// <inheritdoc />
        public Task<IReadOnlyList<GeneratedImage>> GenerateImagesAsync(LoadedModel model, string prompt, ImageGenerationOptions options = null,
            IProgress<ImageGenerationProgress> progress = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            return GenerateImages(model, prompt, null, null, options, progress, cancellationToken);
        }

        private Task<IReadOnlyList<GeneratedImage>> GenerateImages(LoadedModel model, string prompt, ModelInput image, ModelInput mask,
            ImageGenerationOptions options, IProgress<ImageGenerationProgress> progress, CancellationToken cancellationToken)
        {
            if (prompt == null) throw new ArgumentNullException("prompt");
            options = options ?? new ImageGenerationOptions();
            var pinned = SameWorkerTensor(image, mask);
            var parameters = options.ToParameters();
            object inputs = prompt;
            if (image != null)
            {
                // Image-to-image and inpainting: the image is the input, the prompt and the mask are parameters.
                inputs = image;
                parameters["prompt"] = prompt;
                if (mask != null) parameters["mask"] = mask;
            }
            var run = Run<IReadOnlyList<GeneratedImage>>(model, inputs, parameters, options.Keep,
                (r, w) => ReadImages(r, w), pinned);
            if (progress != null) run.ProgressReader = reader => progress.Report(ImageGenerationProgress.Read(reader));
            return InvokePinned(run, pinned, "image", cancellationToken);
        }

        private static IReadOnlyList<GeneratedImage> ReadImages(MessagePackReader reader, WorkerProcess worker)
        {
            var images = ResultReading.ReadOneOrMany(reader, r => GeneratedImage.Read(r, worker));
            if (images.Count == 0) throw ResultReading.Missing("an image generation result", "image");
            return images;
        }

        private static TensorHandle SameWorkerTensor(ModelInput image, ModelInput mask)
        {
            var tensors = new[] { image, mask }.Where(i => i != null && i.Tensor != null).Select(i => i.Tensor).ToList();
            if (tensors.Select(t => t.Worker).Distinct().Count() > 1)
            {
                throw new ArgumentException("the image and the mask are kept on different workers: a call runs on one", "mask");
            }
            return tensors.FirstOrDefault();
        }

        private static void RequireOneImage(ImageGenerationOptions options)
        {
            if (options != null && options.Count.HasValue && options.Count.Value != 1)
            {
                throw new ArgumentException("GenerateImageAsync makes one image; use GenerateImagesAsync for Count " + options.Count.Value, "options");
            }
        }

        // ---- speech out ----------------------------------------------------------------------------

        /// <inheritdoc />
        public Task<SynthesizedSpeech> SynthesizeSpeechAsync(LoadedModel model, string text, SpeechOptions options = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return SynthesizeSpeechAsync(model, text, options, null, cancellationToken);
        }

        /// <inheritdoc />
        public Task<SynthesizedSpeech> SynthesizeSpeechAsync(LoadedModel model, string text, SpeechOptions options,
            IProgress<SpeechProgress> progress, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (text == null) throw new ArgumentNullException("text");
            options = options ?? new SpeechOptions();
            var run = Run<SynthesizedSpeech>(model, text, options.ToParameters(), options.Keep, (r, w) => ReadOne(r, w, SynthesizedSpeech.Read),
                options.Speaker);
            if (progress != null) run.ProgressReader = reader => progress.Report(SpeechProgress.Read(reader));
            return InvokePinned(run, options.Speaker, "speaker", cancellationToken);
        }

        private static T ReadOne<T>(MessagePackReader reader, WorkerProcess worker, Func<MessagePackReader, WorkerProcess, T> read)
        {
            var items = ResultReading.ReadOneOrMany(reader, r => read(r, worker));
            if (items.Count != 1) throw new MessagePackException("expected one result, got " + items.Count);
            return items[0];
        }
    }
}
