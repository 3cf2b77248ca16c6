using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// The result of <c>model/load</c> (protocol.md, <c>model/load</c>). Settable so that a fake
    /// <see cref="IHfModels"/> can describe its own models.
    /// </summary>
    public sealed class ModelInfo
    {
        /// <summary>The handle on the worker that loaded it.</summary>
        public string Handle { get; set; }

        /// <summary>The task it runs (aliases resolved).</summary>
        public string Task { get; set; }

        /// <summary>The model id or folder as sent.</summary>
        public string Model { get; set; }

        /// <summary>Where it runs ("cpu", "cuda:0"...).</summary>
        public string Device { get; set; }

        /// <summary>Its precision ("float32", "bfloat16"...): <see cref="Precision"/> says why.</summary>
        public string DType { get; set; }

        /// <summary>
        /// The precision chosen and why (protocol.md, Precision): with <c>dtype</c> "auto" the worker checks a
        /// 16-bit copy against float32 on a probe input, and this carries the check's figures. Null from a worker
        /// too old to say.
        /// </summary>
        public PrecisionInfo Precision { get; set; }

        /// <summary>What runs it: "torch" or "onnxruntime" (<see cref="ModelBackend"/>). Null from a worker too old to say.</summary>
        public string Backend { get; set; }

        /// <summary>With the ONNX Runtime backend: the exported model, whether it came from the cache, and its check against torch. Null otherwise.</summary>
        public OnnxInfo Onnx { get; set; }

        /// <summary>Its parameter count.</summary>
        public long Parameters { get; set; }

        /// <summary>Bytes its parameters and buffers hold.</summary>
        public long MemoryBytes { get; set; }

        /// <summary>Seconds the first load took.</summary>
        public double LoadSeconds { get; set; }

        /// <summary>References held on the handle after this load (a model loaded twice is loaded once, referenced twice).</summary>
        public int References { get; set; }

        /// <summary>True when this load added a reference to a model the worker had already loaded.</summary>
        public bool Reused { get; set; }

        /// <summary>"folder", "cache", "bundled" or "hub".</summary>
        public string Source { get; set; }

        /// <summary>The folder its files came from.</summary>
        public string Path { get; set; }

        /// <summary>The dynamic batching in force, or null when the task does not batch or batching is off.</summary>
        public BatchingInfo Batching { get; set; }

        internal static ModelInfo Read(MessagePackReader reader)
        {
            var info = new ModelInfo();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "handle": info.Handle = r.ReadString(); return true;
                    case "task": info.Task = r.ReadString(); return true;
                    case "model": info.Model = r.ReadString(); return true;
                    case "device": info.Device = r.ReadString(); return true;
                    case "dtype": info.DType = r.ReadString(); return true;
                    case "parameters": info.Parameters = r.ReadInt64(); return true;
                    case "memory_bytes": info.MemoryBytes = r.ReadInt64(); return true;
                    case "load_seconds": info.LoadSeconds = r.ReadDouble(); return true;
                    case "references": info.References = r.ReadInt32(); return true;
                    case "reused": info.Reused = r.ReadBoolean(); return true;
                    case "source": info.Source = r.ReadString(); return true;
                    case "path": info.Path = r.ReadString(); return true;
                    case "batching": info.Batching = BatchingInfo.Read(r); return true;
                    case "precision": info.Precision = PrecisionInfo.Read(r); return true;
                    case "backend": info.Backend = r.ReadString(); return true;
                    case "onnx": info.Onnx = OnnxInfo.Read(r); return true;
                    default: return false;
                }
            });
            if (info.Handle == null) throw ResultReading.Missing("model/load's result", "handle");
            return info;
        }
    }

    /// <summary>A model's dynamic batching (protocol.md, Dynamic batching): see <see cref="ModelLoadOptions.MaxBatchSize"/>.</summary>
    public sealed class BatchingInfo
    {
        /// <summary>The most inputs per forward pass.</summary>
        public int MaxBatchSize { get; set; }

        /// <summary>How long the oldest call waits for company, in milliseconds.</summary>
        public double MaxDelayMilliseconds { get; set; }

        internal static BatchingInfo Read(MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            var batching = new BatchingInfo();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "max_batch_size") batching.MaxBatchSize = r.ReadInt32();
                else if (key == "max_delay_ms") batching.MaxDelayMilliseconds = r.ReadDouble();
                else return false;
                return true;
            });
            return batching;
        }
    }

    /// <summary>
    /// The precision a model runs in and why (protocol.md, Precision): "requested" for a named dtype, else the
    /// rule or the load-time check that decided. Settable so that a fake <see cref="IHfModels"/> can make one.
    /// </summary>
    public sealed class PrecisionInfo
    {
        /// <summary>The dtype chosen ("float32", "bfloat16", "float16"): the same as <see cref="ModelInfo.DType"/>.</summary>
        public string Chosen { get; set; }

        /// <summary>Why, in words: "requested", the rule that applied, or the check's verdict.</summary>
        public string Reason { get; set; }

        /// <summary>
        /// The vector check's smallest cosine between the 16-bit and the float32 probe outputs (embeddings, hidden
        /// states); the 16-bit copy is kept at 0.999 or more. Null where not measured.
        /// </summary>
        public double? Cosine { get; set; }

        /// <summary>
        /// The classifier check's largest difference between a 16-bit and a float32 probe probability; the 16-bit
        /// copy is kept at 0.01 or less, with the same top labels. Null where not measured.
        /// </summary>
        public double? MaxProbabilityDifference { get; set; }

        /// <summary>True when a load-time check was run (either figure is present).</summary>
        public bool Checked
        {
            get { return Cosine.HasValue || MaxProbabilityDifference.HasValue; }
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return Chosen + " (" + Reason + ")";
        }

        internal static PrecisionInfo Read(MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            var precision = new PrecisionInfo();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "chosen": precision.Chosen = r.ReadString(); return true;
                    case "reason": precision.Reason = r.ReadString(); return true;
                    case "cosine": precision.Cosine = ResultReading.ReadNullableDouble(r); return true;
                    case "max_probability_difference": precision.MaxProbabilityDifference = ResultReading.ReadNullableDouble(r); return true;
                    default: return false;
                }
            });
            return precision;
        }
    }
}
