using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Models;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Media
{
    /// <summary>GenerateImageAsync and its overloads on a real worker, with a tiny random-weight Stable Diffusion pipeline.</summary>
    [TestFixture]
    public class ImageGenerationSpecs
    {
        /// <summary>Collects progress synchronously, on the reader thread, in arrival order; can act on a report.</summary>
        private sealed class Steps : IProgress<ImageGenerationProgress>
        {
            public readonly List<ImageGenerationProgress> Reports = new List<ImageGenerationProgress>();
            public Action<ImageGenerationProgress> OnReport;

            public void Report(ImageGenerationProgress value)
            {
                lock (Reports) Reports.Add(value);
                if (OnReport != null) OnReport(value);
            }
        }

        private static WorkerProcessOptions Worker()
        {
            // One torch thread: on a CI machine whose cores are busy, two spinning threads make a step ten times slower.
            var options = TestEnvironment.Worker();
            options.Threads = 1;
            options.StartTimeout = TimeSpan.FromSeconds(60);
            return options;
        }

        [Test, Timeout(240000)]
        public async Task Text_to_image_makes_a_png_of_the_asked_size_with_its_seed_reports_every_step_and_stops_when_cancelled()
        {
            using (var worker = await WorkerProcess.StartAsync(Worker()))
            {
                var hf = new HfModels(worker);
                var model = await hf.LoadAsync(TestEnvironment.MediaModel("text-to-image"), new ModelLoadOptions { Device = "cpu" });
                Assert.That(model.Task, Is.EqualTo("text-to-image"));

                var steps = new Steps();
                var options = new ImageGenerationOptions { Steps = 3, Width = 32, Height = 48, Seed = 42, PreviewEvery = 2, GuidanceScale = 2 };
                var image = await hf.GenerateImageAsync(model, "a red square", options, steps);
                Assert.That(image.Format, Is.EqualTo("png"));
                Assert.That(image.Width, Is.EqualTo(32));
                Assert.That(image.Height, Is.EqualTo(48));
                Assert.That(MediaFiles.PngSize(image.Bytes), Is.EqualTo(Tuple.Create(32, 48)), "the bytes are a PNG of that size");
                Assert.That(image.Seed, Is.EqualTo(42));
                Assert.That(image.Tensor, Is.Null);

                Assert.That(steps.Reports.Select(p => p.Step), Is.EqualTo(new[] { 1, 2, 3 }), "one report per step, in order");
                Assert.That(steps.Reports.All(p => p.Steps == 3 && p.BatchImages >= 1), Is.True);
                Assert.That(steps.Reports[0].Preview, Is.Null, "previews every second step");
                Assert.That(steps.Reports[1].Preview, Is.Not.Null);
                var preview = MediaFiles.PngSize(steps.Reports[1].Preview);
                Assert.That(preview, Is.EqualTo(Tuple.Create(steps.Reports[1].PreviewWidth, steps.Reports[1].PreviewHeight)));
                Assert.That(preview.Item1, Is.LessThan(32), "a preview is decoded at latent resolution");

                var again = await hf.GenerateImageAsync(model, "a red square", options);
                Assert.That(again.Bytes, Is.EqualTo(image.Bytes), "the same seed and settings make the same image");

                var two = await hf.GenerateImagesAsync(model, "a red square", new ImageGenerationOptions { Steps = 2, Seed = 7, Count = 2, Format = "jpeg" });
                Assert.That(two.Select(i => i.Seed), Is.EqualTo(new[] { 7L, 8L }), "image k is seeded with seed + k");
                Assert.That(two.All(i => i.Format == "jpeg" && i.Bytes[0] == 0xFF && i.Bytes[1] == 0xD8), Is.True, "JPEG bytes");
                Assert.That(two[0].Bytes, Is.Not.EqualTo(two[1].Bytes));

                var drawn = await hf.GenerateImageAsync(model, "a red square", new ImageGenerationOptions { Steps = 1 });
                Assert.That(drawn.Width, Is.EqualTo(32), "the model's own size when none is asked");

                Assert.Throws<ArgumentException>(() => hf.GenerateImageAsync(model, "x", new ImageGenerationOptions { Count = 2 }).GetAwaiter().GetResult(),
                    "one image per GenerateImageAsync; several through GenerateImagesAsync");

                using (var cancel = new CancellationTokenSource())
                {
                    // Cancelled once the first step is reported: the event proves the pipeline is running.
                    var cancelled = new Steps { OnReport = p => cancel.Cancel() };
                    var longRun = hf.GenerateImageAsync(model, "a long way", new ImageGenerationOptions { Steps = 500 }, cancelled, cancel.Token);
                    await AsyncAssert.Throws<OperationCanceledException>(() => longRun);
                    Assert.That(cancelled.Reports, Is.Not.Empty);
                }

                var unknown = await AsyncAssert.Throws<WorkerRpcException>(
                    () => hf.GenerateImageAsync(model, "x", new ImageGenerationOptions { Steps = 1, Scheduler = "fast" }));
                Assert.That(unknown.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                Mentions.All(unknown.Message, "fast", "euler");

                var after = await hf.GenerateImageAsync(model, "a short way", new ImageGenerationOptions { Steps = 1, Seed = 9 });
                Assert.That(after.Seed, Is.EqualTo(9), "the worker serves the next call");
            }
        }

        [Test, Timeout(240000)]
        public async Task A_kept_image_is_refined_classified_and_inpainted_without_leaving_the_worker()
        {
            using (var worker = await WorkerProcess.StartAsync(Worker()))
            {
                var hf = new HfModels(worker);
                var folder = TestEnvironment.MediaModel("text-to-image");
                var model = await hf.LoadAsync(folder, new ModelLoadOptions { Device = "cpu" });
                var kept = await hf.GenerateImageAsync(model, "a lighthouse", new ImageGenerationOptions { Steps = 2, Seed = 3, Keep = true });
                Assert.That(kept.Bytes, Is.Null);
                Assert.That(kept.Tensor, Is.Not.Null);
                Assert.That(kept.Tensor.DType, Is.EqualTo("uint8"));
                Assert.That(kept.Tensor.Shape, Is.EqualTo(new[] { kept.Height, kept.Width, 3 }));
                Assert.That(kept.Tensor.Worker, Is.SameAs(worker));

                var refiner = await hf.LoadAsync(folder, new ModelLoadOptions { Device = "cpu", Task = "image-to-image" });
                var refined = await hf.GenerateImageAsync(refiner, "a lighthouse in a storm", ModelInput.FromTensor(kept.Tensor),
                    new ImageGenerationOptions { Steps = 4, Strength = 0.5, Seed = 1 });
                Assert.That(MediaFiles.PngSize(refined.Bytes), Is.EqualTo(Tuple.Create(kept.Width, kept.Height)), "the source image's size");
                Assert.That(refined.Seed, Is.EqualTo(1));

                var classifier = await hf.LoadAsync(TestEnvironment.TinyModel("image-classification"));
                var labels = await hf.ClassifyAsync(classifier, ModelInput.FromTensor(kept.Tensor), topK: 2);
                Assert.That(labels.Select(l => l.Label), Is.EquivalentTo(new[] { "circle", "square" }), "a kept image is an image input of every task");

                var painter = await hf.LoadAsync(folder, new ModelLoadOptions { Device = "cpu", Task = "inpainting" });
                var painted = await hf.GenerateImageAsync(painter, "a boat", ModelInput.FromTensor(kept.Tensor), ModelInput.Bytes(refined.Bytes),
                    new ImageGenerationOptions { Steps = 2, Seed = 5 });
                Assert.That(MediaFiles.PngSize(painted.Bytes), Is.EqualTo(Tuple.Create(kept.Width, kept.Height)));

                var notAnImage = await AsyncAssert.Throws<WorkerRpcException>(() => hf.GenerateImageAsync(refiner, "x", "not an image"));
                Assert.That(notAnImage.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidInput), "text is no image-to-image input");
                await hf.FreeTensorsAsync(new[] { kept.Tensor });
            }
        }
    }
}
