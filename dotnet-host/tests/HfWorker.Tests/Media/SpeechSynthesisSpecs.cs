using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Models;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Media
{
    /// <summary>SynthesizeSpeechAsync on a real worker, with a tiny random-weight VITS model.</summary>
    [TestFixture]
    public class SpeechSynthesisSpecs
    {
        /// <summary>Collects progress synchronously, on the reader thread, in arrival order.</summary>
        private sealed class Reports : IProgress<SpeechProgress>
        {
            public readonly List<SpeechProgress> Seen = new List<SpeechProgress>();

            public void Report(SpeechProgress value)
            {
                lock (Seen) Seen.Add(value);
            }
        }

        [Test, Timeout(180000)]
        public async Task Speech_comes_back_as_a_wav_of_the_stated_rate_and_length_or_stays_in_the_worker_to_be_transcribed()
        {
            var options = TestEnvironment.Worker();
            options.Threads = 1; // see ImageGenerationSpecs: a busy machine
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var hf = new HfModels(worker);
                var voice = await hf.LoadAsync(TestEnvironment.MediaModel("text-to-speech"), new ModelLoadOptions { Device = "cpu" });
                Assert.That(voice.Task, Is.EqualTo("text-to-speech"));

                var speech = await hf.SynthesizeSpeechAsync(voice, "hello from the worker", new SpeechOptions { Seed = 1 });
                Assert.That(speech.Format, Is.EqualTo("wav"));
                Assert.That(speech.Encoding, Is.EqualTo("pcm16"));
                Assert.That(speech.SamplingRate, Is.EqualTo(16000));
                Assert.That(speech.Tensor, Is.Null);
                var wav = MediaFiles.Wav(speech.Audio);
                Assert.That(wav.Code, Is.EqualTo(1), "PCM");
                Assert.That(wav.BitsPerSample, Is.EqualTo(16));
                Assert.That(wav.Channels, Is.EqualTo(1));
                Assert.That(wav.SamplingRate, Is.EqualTo(speech.SamplingRate), "the header says the rate");
                Assert.That(wav.Frames, Is.GreaterThan(0));
                Assert.That(wav.Frames / (double)wav.SamplingRate, Is.EqualTo(speech.Seconds).Within(1.0 / wav.SamplingRate), "seconds x rate samples");

                var again = await hf.SynthesizeSpeechAsync(voice, "hello from the worker", new SpeechOptions { Seed = 1 });
                Assert.That(again.Audio, Is.EqualTo(speech.Audio), "the same seed and text give the same waveform");

                var reports = new Reports();
                var reported = await hf.SynthesizeSpeechAsync(voice, "hello from the worker", new SpeechOptions { Seed = 1 }, reports);
                Assert.That(reported.Audio, Is.EqualTo(speech.Audio), "with progress, the same call");
                Assert.That(reports.Seen, Is.Not.Empty, "progress arrives before the answer");
                var last = reports.Seen[reports.Seen.Count - 1];
                Assert.That(last.Done, Is.EqualTo(1), last.ToString());
                Assert.That(last.Total, Is.EqualTo(1), last.ToString());
                Assert.That(last.Step, Is.Null, "VITS makes a batch in one pass: no decoding steps");

                var floats = await hf.SynthesizeSpeechAsync(voice, "hello from the worker", new SpeechOptions { Seed = 1, Encoding = "float32" });
                var floatWav = MediaFiles.Wav(floats.Audio);
                Assert.That(floatWav.Code, Is.EqualTo(3), "IEEE float");
                Assert.That(floatWav.BitsPerSample, Is.EqualTo(32));
                Assert.That(floatWav.Frames, Is.EqualTo(wav.Frames));

                var kept = await hf.SynthesizeSpeechAsync(voice, "good morning", new SpeechOptions { Keep = true, Seed = 2 });
                Assert.That(kept.Audio, Is.Null);
                Assert.That(kept.Tensor.DType, Is.EqualTo("float32"));
                Assert.That(kept.Tensor.Shape.Length, Is.EqualTo(1));
                Assert.That(kept.Tensor.Shape[0] / (double)kept.SamplingRate, Is.EqualTo(kept.Seconds).Within(1.0 / kept.SamplingRate));
                var asr = await hf.LoadAsync(TestEnvironment.TinyModel("automatic-speech-recognition"));
                var heard = await hf.TranscribeAsync(asr, ModelInput.FromTensor(kept.Tensor, kept.SamplingRate));
                Assert.That(heard.Text, Is.Not.Null, "a kept waveform is an audio input (random weights: the words are noise)");

                var empty = await AsyncAssert.Throws<WorkerRpcException>(() => hf.SynthesizeSpeechAsync(voice, "   "));
                Assert.That(empty.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                var unknown = new SpeechOptions();
                unknown.Extra["pitch"] = 2;
                var refused = await AsyncAssert.Throws<WorkerRpcException>(() => hf.SynthesizeSpeechAsync(voice, "hello", unknown));
                Assert.That(refused.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                Mentions.All(refused.Message, "pitch");

                var faster = await hf.SynthesizeSpeechAsync(voice, "hello from the worker", new SpeechOptions { Seed = 1, SpeakingRate = 2.0 });
                Assert.That(faster.Seconds, Is.LessThan(speech.Seconds), "the worker keeps serving after refusals; a faster rate is shorter");
            }
        }
    }
}
