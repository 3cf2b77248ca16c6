using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// A model run by ONNX Runtime in the worker (protocol.md, model/load, <c>onnx</c>): the exported file, whether
    /// it came from the export cache, and how closely it matched torch when it was exported. Settable so that a
    /// fake <see cref="IHfModels"/> can make one.
    /// </summary>
    public sealed class OnnxInfo
    {
        /// <summary>The exported <c>model.onnx</c>: the graph the worker runs, in its export cache (or, in an <see cref="ExportResult"/>, the one written).</summary>
        public string Path { get; set; }

        /// <summary>True when the export was found in the cache: nothing was exported by this call (a restarted worker loads at once).</summary>
        public bool Cached { get; set; }

        /// <summary>The ONNX opset it was exported with.</summary>
        public int Opset { get; set; }

        /// <summary>"int8" when quantized; null otherwise.</summary>
        public string Quantize { get; set; }

        /// <summary>The exporter and torch version that made it, e.g. "torchscript (torch 2.13.0+cpu)".</summary>
        public string Exporter { get; set; }

        /// <summary>How the export compared with torch on a probe input.</summary>
        public ExportCheck Check { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Path + (Cached ? " (cached)" : "") + (Check == null ? "" : ": " + Check);
        }

        internal static OnnxInfo Read(MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            var info = new OnnxInfo();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "path": info.Path = r.ReadString(); return true;
                    case "cached": info.Cached = r.ReadBoolean(); return true;
                    case "opset": info.Opset = r.ReadInt32(); return true;
                    case "quantize": info.Quantize = r.TryReadNil() ? null : r.ReadString(); return true;
                    case "exporter": info.Exporter = r.ReadString(); return true;
                    case "check": info.Check = ExportCheck.Read(r); return true;
                    default: return false;
                }
            });
            return info;
        }
    }

    /// <summary>
    /// An ONNX export checked against torch float32 on the task's probe input when it was exported (protocol.md, ONNX
    /// Runtime backend): the largest absolute difference, and the smallest cosine (embedding tasks) or the share of rows
    /// with the same top label (classifiers). Settable so that a fake can make one.
    /// </summary>
    public sealed class ExportCheck
    {
        /// <summary>The largest absolute difference of a vector component or probability between ONNX Runtime and torch.</summary>
        public double? MaxAbsoluteDifference { get; set; }

        /// <summary>Embedding tasks: the smallest cosine between an ONNX Runtime vector and torch's; null for classifiers.</summary>
        public double? Cosine { get; set; }

        /// <summary>Classifiers: the share of probe rows (0 to 1) whose top label is torch's; null for embedding tasks.</summary>
        public double? LabelAgreement { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return "max abs difference " + MaxAbsoluteDifference + (Cosine.HasValue ? ", cosine " + Cosine : "")
                + (LabelAgreement.HasValue ? ", label agreement " + LabelAgreement : "");
        }

        internal static ExportCheck Read(MessagePackReader reader)
        {
            if (reader.TryReadNil()) return null;
            var check = new ExportCheck();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "max_abs_diff": check.MaxAbsoluteDifference = ResultReading.ReadNullableDouble(r); return true;
                    case "cosine": check.Cosine = ResultReading.ReadNullableDouble(r); return true;
                    case "label_agreement": check.LabelAgreement = ResultReading.ReadNullableDouble(r); return true;
                    default: return false;
                }
            });
            return check;
        }
    }
}
