using System;
using System.Collections.Generic;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// Settings for <see cref="HfModels.SynthesizeSpeechAsync(LoadedModel, string, SpeechOptions, System.Threading.CancellationToken)"/> (protocol.md, text-to-speech). Null members leave the
    /// model's or the worker's defaults.
    /// </summary>
    public sealed class SpeechOptions
    {
        /// <summary>The WAV's samples: "pcm16" (16-bit PCM) or "float32" (32-bit IEEE float). Default null: "pcm16".</summary>
        public string Encoding { get; set; }

        /// <summary>
        /// Seeds the worker's generator before synthesis (VITS and SpeechT5 draw noise; Bark and MusicGen may sample): the
        /// same seed, text and settings give the same waveform. Default null.
        /// </summary>
        public long? Seed { get; set; }

        /// <summary>VITS (MMS-TTS): above 1 speaks faster, 0.1 to 10. Default null: the model's (1.0).</summary>
        public double? SpeakingRate { get; set; }

        /// <summary>
        /// SpeechT5's voice: a speaker embedding (x-vector) kept in the worker (SpeechT5 is loaded with its vocoder:
        /// <c>ModelLoadOptions.Options["vocoder"]</c> naming a HiFi-GAN folder or hub id). Default null. Set this or
        /// <see cref="SpeakerEmbedding"/>, not both. The call runs on the tensor's worker.
        /// </summary>
        public TensorHandle Speaker { get; set; }

        /// <summary>SpeechT5's voice: a speaker embedding (x-vector, the model's speaker_embedding_dim floats) sent with the call. Default null.</summary>
        public float[] SpeakerEmbedding { get; set; }

        /// <summary>
        /// Keep the waveform in the worker as a float32 tensor instead of sending WAV bytes: it can then be transcribed
        /// by handle (<see cref="ModelInput.FromTensor(TensorHandle, int)"/> with its <see cref="SynthesizedSpeech.SamplingRate"/>)
        /// without crossing the process boundary. Default false.
        /// </summary>
        public bool Keep { get; set; }

        /// <summary>Any other parameter by its protocol name ("speaking_rate", "max_new_tokens"...: protocol.md, text-to-speech). Default none.</summary>
        public IDictionary<string, object> Extra { get; private set; } = new Dictionary<string, object>();

        internal Dictionary<string, object> ToParameters()
        {
            if (Speaker != null && SpeakerEmbedding != null) throw new ArgumentException("set Speaker or SpeakerEmbedding, not both");
            var parameters = new Dictionary<string, object>();
            if (Encoding != null) parameters["encoding"] = Encoding;
            if (Seed.HasValue) parameters["seed"] = Seed.Value;
            if (SpeakingRate.HasValue) parameters["speaking_rate"] = SpeakingRate.Value;
            if (Speaker != null) parameters["speaker_embedding"] = new Dictionary<string, object> { { "tensor", Speaker.Id } };
            if (SpeakerEmbedding != null) parameters["speaker_embedding"] = SpeakerEmbedding;
            foreach (var pair in Extra) parameters[pair.Key] = pair.Value;
            return parameters;
        }
    }

    /// <summary>
    /// Synthesised speech: WAV bytes, or (with <see cref="SpeechOptions.Keep"/>) the waveform kept in the worker; its
    /// sampling rate and length. Settable so that a fake <see cref="IHfModels"/> can make one.
    /// </summary>
    public sealed class SynthesizedSpeech
    {
        /// <summary>A whole WAV file (RIFF header included), or null when the waveform was kept.</summary>
        public byte[] Audio { get; set; }

        /// <summary>Samples per second.</summary>
        public int SamplingRate { get; set; }

        /// <summary>Its length in seconds.</summary>
        public double Seconds { get; set; }

        /// <summary>"wav"; null when kept.</summary>
        public string Format { get; set; }

        /// <summary>"pcm16" or "float32"; null when kept.</summary>
        public string Encoding { get; set; }

        /// <summary>The waveform as a float32 tensor in the worker, when kept; null otherwise.</summary>
        public TensorHandle Tensor { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Seconds.ToString("0.###") + " s at " + SamplingRate + " Hz" + (Tensor != null ? " kept as " + Tensor.Id : ", " + Audio.Length + " bytes of " + Format);
        }

        internal static SynthesizedSpeech Read(MessagePackReader reader, WorkerProcess worker)
        {
            var speech = new SynthesizedSpeech();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "audio": speech.Audio = r.ReadBinary(); return true;
                    case "sampling_rate": speech.SamplingRate = r.ReadInt32(); return true;
                    case "seconds": speech.Seconds = r.ReadDouble(); return true;
                    case "format": speech.Format = r.ReadString(); return true;
                    case "encoding": speech.Encoding = r.ReadString(); return true;
                    case "tensor": speech.Tensor = TensorHandle.Read(r, worker); return true;
                    default: return false;
                }
            });
            if (speech.Audio == null && speech.Tensor == null) throw ResultReading.Missing("synthesised speech", "audio");
            return speech;
        }
    }

    /// <summary>
    /// How far a <see cref="HfModels.SynthesizeSpeechAsync(LoadedModel, string, SpeechOptions, System.IProgress{SpeechProgress}, System.Threading.CancellationToken)"/>
    /// call has come: texts done of those in the call, after each batch of them, and for models that decode step by step
    /// (SpeechT5, Bark, MusicGen) also the decoding step of the batch under way, every 16 steps.
    /// </summary>
    public sealed class SpeechProgress
    {
        /// <summary>Texts synthesised so far.</summary>
        public int Done { get; set; }

        /// <summary>Texts in the call.</summary>
        public int Total { get; set; }

        /// <summary>The decoding step of the batch under way, or null in a report that closes a batch.</summary>
        public int? Step { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Done + "/" + Total + " texts" + (Step.HasValue ? ", step " + Step.Value : "");
        }

        internal static SpeechProgress Read(MessagePackReader reader)
        {
            var progress = new SpeechProgress();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "done": progress.Done = r.ReadInt32(); return true;
                    case "total": progress.Total = r.ReadInt32(); return true;
                    case "step": progress.Step = r.ReadInt32(); return true;
                    default: return false;
                }
            });
            return progress;
        }
    }
}
