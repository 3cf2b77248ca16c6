using System.Collections.Generic;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// Settings for <see cref="HfModels.GenerateImageAsync(LoadedModel, string, ImageGenerationOptions, System.IProgress{ImageGenerationProgress}, System.Threading.CancellationToken)"/>
    /// and its overloads (protocol.md, text-to-image, image-to-image, inpainting). Null members leave the
    /// pipeline's or the worker's defaults.
    /// </summary>
    public sealed class ImageGenerationOptions
    {
        /// <summary>What the image should not show. Default null: none.</summary>
        public string NegativePrompt { get; set; }

        /// <summary>Denoising steps, 1 to 500. Default null: the pipeline's (50).</summary>
        public int? Steps { get; set; }

        /// <summary>Classifier-free guidance scale, 0 to 100 (1 or less turns guidance off; SD-Turbo: 0). Default null: the pipeline's (7.5).</summary>
        public double? GuidanceScale { get; set; }

        /// <summary>
        /// Width in pixels, a multiple of 8 (width × height within the worker's --max-image-pixels). Default null: the
        /// model's size for text-to-image, the source image's otherwise (a given size resizes the source).
        /// </summary>
        public int? Width { get; set; }

        /// <summary>Height in pixels, a multiple of 8 (see <see cref="Width"/>). Default null: as for <see cref="Width"/>.</summary>
        public int? Height { get; set; }

        /// <summary>
        /// The seed: the same seed and settings give the same image. Default null: the worker draws one and returns
        /// it in <see cref="GeneratedImage.Seed"/>.
        /// </summary>
        public long? Seed { get; set; }

        /// <summary>Images to make from the prompt, 1 to 8; image k is seeded with <see cref="Seed"/> + k. Default null: one.</summary>
        public int? Count { get; set; }

        /// <summary>
        /// Image-to-image and inpainting: how far from the source image to go, above 0 and at most 1 (about
        /// strength × steps are run). Default null: the pipeline's (0.8 image-to-image, 1.0 inpainting).
        /// </summary>
        public double? Strength { get; set; }

        /// <summary>A scheduler by its protocol name (ddim, ddpm, pndm, lms, euler, euler_ancestral, heun, dpm++, dpm++_karras, deis, unipc, lcm). Default null: the model's own.</summary>
        public string Scheduler { get; set; }

        /// <summary>The encoding of the bytes: "png", "jpeg" or "webp" (quality 90). Default null: "png".</summary>
        public string Format { get; set; }

        /// <summary>
        /// A small preview image (decoded cheaply from the latents, not by the VAE) in every k-th step's progress.
        /// Default null: no previews.
        /// </summary>
        public int? PreviewEvery { get; set; }

        /// <summary>
        /// Keep the image in the worker as a uint8 [height, width, 3] tensor instead of sending its bytes: it can then
        /// be captioned, classified or refined by handle (<see cref="ModelInput.FromTensor(TensorHandle)"/>) without crossing the
        /// process boundary. Default false.
        /// </summary>
        public bool Keep { get; set; }

        /// <summary>Any other parameter by its protocol name. Default none.</summary>
        public IDictionary<string, object> Extra { get; private set; } = new Dictionary<string, object>();

        internal Dictionary<string, object> ToParameters()
        {
            var parameters = new Dictionary<string, object>();
            if (NegativePrompt != null) parameters["negative_prompt"] = NegativePrompt;
            if (Steps.HasValue) parameters["num_inference_steps"] = Steps.Value;
            if (GuidanceScale.HasValue) parameters["guidance_scale"] = GuidanceScale.Value;
            if (Width.HasValue) parameters["width"] = Width.Value;
            if (Height.HasValue) parameters["height"] = Height.Value;
            if (Seed.HasValue) parameters["seed"] = Seed.Value;
            if (Count.HasValue) parameters["num_images"] = Count.Value;
            if (Strength.HasValue) parameters["strength"] = Strength.Value;
            if (Scheduler != null) parameters["scheduler"] = Scheduler;
            if (Format != null) parameters["format"] = Format;
            if (PreviewEvery.HasValue) parameters["preview_every"] = PreviewEvery.Value;
            foreach (var pair in Extra) parameters[pair.Key] = pair.Value;
            return parameters;
        }
    }

    /// <summary>
    /// One denoising step done (reported after every step), with a small preview image every
    /// <see cref="ImageGenerationOptions.PreviewEvery"/> steps. Settable so that a fake can report its own.
    /// </summary>
    public sealed class ImageGenerationProgress
    {
        /// <summary>Steps done, 1 to <see cref="Steps"/>.</summary>
        public int Step { get; set; }

        /// <summary>Steps in all.</summary>
        public int Steps { get; set; }

        /// <summary>
        /// Images computed together in this pipeline call: this call's and those of the calls the worker coalesced
        /// with it (same size, steps, guidance, strength and scheduler).
        /// </summary>
        public int BatchImages { get; set; }

        /// <summary>
        /// A low-resolution PNG of the call's first image so far (the latents projected to RGB, not a VAE decode: 1/8 of
        /// the image's size for Stable Diffusion), or null in a step without a preview.
        /// </summary>
        public byte[] Preview { get; set; }

        /// <summary>The preview's width in pixels (0 without one).</summary>
        public int PreviewWidth { get; set; }

        /// <summary>The preview's height in pixels (0 without one).</summary>
        public int PreviewHeight { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return "step " + Step + "/" + Steps + (Preview == null ? "" : " with a " + PreviewWidth + "x" + PreviewHeight + " preview");
        }

        internal static ImageGenerationProgress Read(MessagePackReader reader)
        {
            var progress = new ImageGenerationProgress();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "step": progress.Step = r.ReadInt32(); return true;
                    case "steps": progress.Steps = r.ReadInt32(); return true;
                    case "batch_images": progress.BatchImages = r.ReadInt32(); return true;
                    case "preview": progress.Preview = r.ReadBinary(); return true;
                    case "width": progress.PreviewWidth = r.ReadInt32(); return true;
                    case "height": progress.PreviewHeight = r.ReadInt32(); return true;
                    default: return false;
                }
            });
            return progress;
        }
    }

    /// <summary>
    /// A generated image: its encoded bytes, or (with <see cref="ImageGenerationOptions.Keep"/>) a tensor kept in the
    /// worker; its size and the seed that made it. Settable so that a fake <see cref="IHfModels"/> can make one.
    /// </summary>
    public sealed class GeneratedImage
    {
        /// <summary>The encoded image (<see cref="Format"/>), or null when it was kept in the worker.</summary>
        public byte[] Bytes { get; set; }

        /// <summary>"png", "jpeg" or "webp"; null when kept.</summary>
        public string Format { get; set; }

        /// <summary>Width in pixels.</summary>
        public int Width { get; set; }

        /// <summary>Height in pixels.</summary>
        public int Height { get; set; }

        /// <summary>The seed that made it: the same seed and settings make it again.</summary>
        public long Seed { get; set; }

        /// <summary>The image as a uint8 [height, width, 3] tensor in the worker, when kept; null otherwise.</summary>
        public TensorHandle Tensor { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Width + "x" + Height + " seed " + Seed + (Tensor != null ? " kept as " + Tensor.Id : " " + Format + ", " + (Bytes == null ? 0 : Bytes.Length) + " bytes");
        }

        internal static GeneratedImage Read(MessagePackReader reader, WorkerProcess worker)
        {
            var image = new GeneratedImage();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "image": image.Bytes = r.ReadBinary(); return true;
                    case "format": image.Format = r.ReadString(); return true;
                    case "width": image.Width = r.ReadInt32(); return true;
                    case "height": image.Height = r.ReadInt32(); return true;
                    case "seed": image.Seed = r.ReadInt64(); return true;
                    case "tensor": image.Tensor = TensorHandle.Read(r, worker); return true;
                    default: return false;
                }
            });
            if (image.Bytes == null && image.Tensor == null) throw ResultReading.Missing("a generated image", "image");
            return image;
        }
    }
}
