using System;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// One input to a model: text, a file the worker reads, a file's bytes (audio or an image), or a tensor
    /// kept in the worker. A string converts to text implicitly.
    /// </summary>
    public sealed class ModelInput : IMessagePackWritable
    {
        private readonly string _kind;
        private readonly object _value;
        private readonly int? _samplingRate;

        private ModelInput(string kind, object value, TensorHandle tensor = null, int? samplingRate = null)
        {
            _kind = kind;
            _value = value;
            _samplingRate = samplingRate;
            Tensor = tensor;
        }

        /// <summary>Text.</summary>
        public static ModelInput Text(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            return new ModelInput("text", text);
        }

        /// <summary>A file the worker opens itself (audio or image); the path is the worker's, not the host's, if they differ.</summary>
        public static ModelInput File(string path)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("a path is required", "path");
            return new ModelInput("path", path);
        }

        /// <summary>An encoded file's bytes: wav, flac, ogg, mp3; png, jpeg, webp...</summary>
        public static ModelInput Bytes(byte[] encoded)
        {
            if (encoded == null) throw new ArgumentNullException("encoded");
            return new ModelInput("bytes", encoded);
        }

        /// <summary>A tensor kept in the worker (a waveform, an image array). The call runs on the tensor's worker.</summary>
        public static ModelInput FromTensor(TensorHandle tensor)
        {
            if (tensor == null) throw new ArgumentNullException("tensor");
            return new ModelInput("tensor", tensor.Id, tensor);
        }

        /// <summary>
        /// A waveform kept in the worker with the rate it was sampled at (a kept <see cref="SynthesizedSpeech"/>, say):
        /// the worker resamples it to the model's rate. The call runs on the tensor's worker.
        /// </summary>
        public static ModelInput FromTensor(TensorHandle tensor, int samplingRate)
        {
            if (tensor == null) throw new ArgumentNullException("tensor");
            if (samplingRate <= 0) throw new ArgumentOutOfRangeException("samplingRate", "a sampling rate is positive");
            return new ModelInput("tensor", tensor.Id, tensor, samplingRate);
        }

        /// <summary>Text, implicitly.</summary>
        public static implicit operator ModelInput(string text)
        {
            return Text(text);
        }

        /// <summary>The tensor this input names, or null.</summary>
        internal TensorHandle Tensor { get; private set; }

        /// <inheritdoc />
        public void WriteTo(MessagePackWriter writer)
        {
            writer.WriteMapHeader(_samplingRate.HasValue ? 2 : 1);
            writer.WriteString(_kind);
            writer.WriteValue(_value);
            if (_samplingRate.HasValue)
            {
                writer.WriteString("sampling_rate");
                writer.WriteValue(_samplingRate.Value);
            }
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return _kind == "bytes" ? "bytes[" + ((byte[])_value).Length + "]" : _kind + ": " + _value;
        }
    }
}
