using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.MessagePack;
using HfWorker.Models;
using NUnit.Framework;

namespace HfWorker.Tests.Media
{
    /// <summary>
    /// What the typed image, speech, load and export calls put on the wire (protocol.md's names), seen through a
    /// fake invoker that records each call's parameters as the worker would decode them. No Python.
    /// </summary>
    [TestFixture]
    public class WireShapeSpecs
    {
        /// <summary>Records each call's parameters (written and read back as MessagePack) and answers with a canned result.</summary>
        private sealed class Recorder : IWorkerInvoker
        {
            public readonly List<Dictionary<string, object>> Sent = new List<Dictionary<string, object>>();
            public object Answer;

            public Task<T> InvokeAsync<T>(Invocation<T> invocation, CancellationToken cancellationToken = default(CancellationToken))
            {
                var sent = new MessagePackWriter();
                sent.WriteValue(invocation.ParametersOn(null));
                var parameters = (Dictionary<string, object>)new MessagePackReader(sent.ToArray()).ReadValue();
                parameters["method"] = invocation.Method;
                Sent.Add(parameters);
                var result = new MessagePackWriter();
                result.WriteValue(Answer);
                return Task.FromResult(invocation.ReadResult(new MessagePackReader(result.ToArray()), null));
            }

            public Task<IWorkerSetup<T>> SetUpAsync<T>(Invocation<T> setUp, Func<T, Invocation<object>> tearDown,
                CancellationToken cancellationToken = default(CancellationToken))
            {
                throw new NotSupportedException("models come from new LoadedModel(ModelInfo) here");
            }
        }

        private static readonly LoadedModel Model = new LoadedModel(new ModelInfo { Handle = "m-1", Task = "inpainting", Model = "fake" });

        private static Dictionary<string, object> Map(object value)
        {
            return (Dictionary<string, object>)value;
        }

        private static Dictionary<string, object> Image(long seed)
        {
            return new Dictionary<string, object> { { "image", new byte[] { 1, 2 } }, { "format", "png" }, { "width", 8 }, { "height", 16 }, { "seed", seed } };
        }

        [Test]
        public async Task Inpainting_sends_the_image_as_the_input_and_the_prompt_and_mask_as_parameters()
        {
            var recorder = new Recorder { Answer = new object[] { Image(5) } };
            var hf = new HfModels(recorder);
            var kept = new TensorHandle("t-1", "uint8", new[] { 16, 8, 3 }, 384);
            var options = new ImageGenerationOptions { Steps = 4, GuidanceScale = 0, Width = 8, Height = 16, Seed = 5, Strength = 0.5, Scheduler = "euler", PreviewEvery = 2 };
            var image = await hf.GenerateImageAsync(Model, "a boat", ModelInput.FromTensor(kept), ModelInput.Bytes(new byte[] { 9 }), options);

            var sent = recorder.Sent[0];
            Assert.That(sent["method"], Is.EqualTo("model/run"));
            Assert.That(Map(sent["inputs"])["tensor"], Is.EqualTo("t-1"));
            var parameters = Map(sent["parameters"]);
            Assert.That(parameters["prompt"], Is.EqualTo("a boat"));
            Assert.That(Map(parameters["mask"])["bytes"], Is.EqualTo(new byte[] { 9 }));
            Assert.That(parameters["num_inference_steps"], Is.EqualTo(4));
            Assert.That(parameters["guidance_scale"], Is.EqualTo(0.0));
            Assert.That(parameters["width"], Is.EqualTo(8));
            Assert.That(parameters["height"], Is.EqualTo(16));
            Assert.That(parameters["seed"], Is.EqualTo(5));
            Assert.That(parameters["strength"], Is.EqualTo(0.5));
            Assert.That(parameters["scheduler"], Is.EqualTo("euler"));
            Assert.That(parameters["preview_every"], Is.EqualTo(2));
            Assert.That(sent.ContainsKey("keep"), Is.False);
            Assert.That(image.Width, Is.EqualTo(8));
            Assert.That(image.Height, Is.EqualTo(16));
            Assert.That(image.Seed, Is.EqualTo(5));
            Assert.That(image.Bytes, Is.EqualTo(new byte[] { 1, 2 }));
        }

        [Test]
        public async Task Text_to_image_sends_the_prompt_as_the_input_and_reads_one_image_per_seed()
        {
            var recorder = new Recorder { Answer = new object[] { Image(7), Image(8) } };
            var hf = new HfModels(recorder);
            var images = await hf.GenerateImagesAsync(Model, "a lighthouse", new ImageGenerationOptions { Count = 2, Format = "webp", NegativePrompt = "fog", Keep = true });
            var sent = recorder.Sent[0];
            Assert.That(sent["inputs"], Is.EqualTo("a lighthouse"));
            var parameters = Map(sent["parameters"]);
            Assert.That(parameters["num_images"], Is.EqualTo(2));
            Assert.That(parameters["format"], Is.EqualTo("webp"));
            Assert.That(parameters["negative_prompt"], Is.EqualTo("fog"));
            Assert.That(parameters.ContainsKey("prompt"), Is.False, "text-to-image takes the prompt as its input");
            Assert.That(sent["keep"], Is.EqualTo(true));
            Assert.That(images.Count, Is.EqualTo(2));
            Assert.That(images[1].Seed, Is.EqualTo(8));
        }

        [Test]
        public async Task Speech_sends_a_kept_speaker_by_handle_or_a_list_of_floats()
        {
            var recorder = new Recorder
            {
                Answer = new Dictionary<string, object> { { "audio", new byte[] { 1 } }, { "sampling_rate", 16000 }, { "seconds", 0.5 }, { "format", "wav" }, { "encoding", "float32" } },
            };
            var hf = new HfModels(recorder);
            var speaker = new TensorHandle("t-9", "float32", new[] { 512 }, 2048);
            var speech = await hf.SynthesizeSpeechAsync(Model, "hello", new SpeechOptions { Speaker = speaker, Encoding = "float32", Seed = 3 });
            var parameters = Map(recorder.Sent[0]["parameters"]);
            Assert.That(Map(parameters["speaker_embedding"])["tensor"], Is.EqualTo("t-9"));
            Assert.That(parameters["encoding"], Is.EqualTo("float32"));
            Assert.That(parameters["seed"], Is.EqualTo(3));
            Assert.That(speech.SamplingRate, Is.EqualTo(16000));
            Assert.That(speech.Seconds, Is.EqualTo(0.5));

            await hf.SynthesizeSpeechAsync(Model, "hello", new SpeechOptions { SpeakerEmbedding = new[] { 0.5f, -0.25f } });
            Assert.That(Map(recorder.Sent[1]["parameters"])["speaker_embedding"], Is.EqualTo(new object[] { 0.5, -0.25 }));

            Assert.Throws<ArgumentException>(() => hf.SynthesizeSpeechAsync(Model, "hello", new SpeechOptions { Speaker = speaker, SpeakerEmbedding = new float[1] }),
                "one voice, not two");
        }

        [Test]
        public async Task Export_and_load_options_use_the_protocols_names()
        {
            var recorder = new Recorder
            {
                Answer = new Dictionary<string, object>
                {
                    { "output", "/out" }, { "manifest", "/out/hf-worker-export.json" }, { "files", new[] { "model.onnx" } }, { "task", "inpainting" },
                    { "model", "fake" }, { "cached", true },
                    { "onnx", new Dictionary<string, object> { { "path", "/out/model.onnx" }, { "cached", true }, { "opset", 18 }, { "quantize", "int8" }, { "exporter", "x" },
                        { "check", new Dictionary<string, object> { { "max_abs_diff", 0.01 }, { "label_agreement", 1.0 } } } } },
                },
            };
            var hf = new HfModels(recorder);
            var export = await hf.ExportAsync(Model, new ExportOptions { Output = "/out", Quantize = "int8", Opset = 18 });
            var sent = recorder.Sent[0];
            Assert.That(sent["method"], Is.EqualTo("model/export"));
            Assert.That(sent["handle"], Is.EqualTo("m-1"));
            Assert.That(sent["format"], Is.EqualTo("onnx"));
            Assert.That(sent["output"], Is.EqualTo("/out"));
            Assert.That(sent["quantize"], Is.EqualTo("int8"));
            Assert.That(sent["opset"], Is.EqualTo(18));
            Assert.That(sent.ContainsKey("model"), Is.False, "a handle or a model, not both");
            Assert.That(export.Cached, Is.True);
            Assert.That(export.Files, Is.EqualTo(new[] { "model.onnx" }));
            Assert.That(export.Onnx.Quantize, Is.EqualTo("int8"));
            Assert.That(export.Onnx.Check.LabelAgreement, Is.EqualTo(1.0));
            Assert.That(export.Onnx.Check.Cosine, Is.Null);

            await hf.ExportAsync("org/model", new ExportOptions { Output = "/out2", Task = "fill-mask", Revision = "main" });
            Assert.That(recorder.Sent[1]["model"], Is.EqualTo("org/model"));
            Assert.That(recorder.Sent[1]["task"], Is.EqualTo("fill-mask"));
            Assert.That(recorder.Sent[1]["revision"], Is.EqualTo("main"));
            Assert.Throws<ArgumentException>(() => hf.ExportAsync(Model, new ExportOptions { Output = "/o", Task = "fill-mask" }), "a loaded model has its task");

            var load = new ModelLoadOptions { Backend = ModelBackend.OnnxRuntime, Quantize = "int8" };
            var loadParams = load.ToParams("m");
            Assert.That(loadParams["backend"], Is.EqualTo("onnxruntime"));
            Assert.That(loadParams["quantize"], Is.EqualTo("int8"));
        }
    }
}
