using System;
using System.Collections.Generic;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// Where and how <see cref="HfModels.ExportAsync(string, ExportOptions, IProgress{string}, System.Threading.CancellationToken)"/>
    /// writes a model for ONNX Runtime (protocol.md, <c>model/export</c>).
    /// </summary>
    public sealed class ExportOptions
    {
        /// <summary>
        /// Required: the folder to write, an absolute path on the worker's machine whose parent exists and which does
        /// not exist yet or is empty (the worker never overwrites a file; within --input-root when the worker has one).
        /// </summary>
        public string Output { get; set; }

        /// <summary>"int8" for ONNX Runtime's dynamically quantized graph. Default null: float32.</summary>
        public string Quantize { get; set; }

        /// <summary>The ONNX opset of a new export, 14 to 20. Default null: the worker's (17).</summary>
        public int? Opset { get; set; }

        /// <summary>When exporting by model id or folder: the task, as <see cref="ModelLoadOptions.Task"/>. Default null: told from the folder.</summary>
        public string Task { get; set; }

        /// <summary>When exporting by hub id: the branch, tag or commit. Default null.</summary>
        public string Revision { get; set; }

        /// <summary>How long the export may take. Default null: the invoker's default call timeout.</summary>
        public TimeSpan? Timeout { get; set; }

        internal Dictionary<string, object> ToParams(string member, object model, bool byHandle)
        {
            if (string.IsNullOrEmpty(Output)) throw new ArgumentException("ExportOptions.Output names the folder to write", "options");
            if (byHandle && (Task != null || Revision != null))
            {
                throw new ArgumentException("Task and Revision go with a model id or folder; a loaded model has its own", "options");
            }
            var parameters = new Dictionary<string, object> { { member, model }, { "format", "onnx" }, { "output", Output } };
            if (Quantize != null) parameters["quantize"] = Quantize;
            if (Opset.HasValue) parameters["opset"] = Opset.Value;
            if (Task != null) parameters["task"] = Task;
            if (Revision != null) parameters["revision"] = Revision;
            return parameters;
        }
    }

    /// <summary>
    /// A model written as a folder a .NET app runs with Microsoft.ML.OnnxRuntime: <c>model.onnx</c>, the tokenizer or
    /// image processor, <c>config.json</c> and the manifest <c>hf-worker-export.json</c> (inputs, outputs, pooling,
    /// labels, the check's figures). Settable so that a fake <see cref="IHfModels"/> can make one.
    /// </summary>
    public sealed class ExportResult
    {
        /// <summary>The folder written.</summary>
        public string Output { get; set; }

        /// <summary>The manifest's path (<c>hf-worker-export.json</c> in <see cref="Output"/>).</summary>
        public string Manifest { get; set; }

        /// <summary>The names of the files written.</summary>
        public IReadOnlyList<string> Files { get; set; } = new string[0];

        /// <summary>The task it was exported for.</summary>
        public string Task { get; set; }

        /// <summary>The model's name.</summary>
        public string Model { get; set; }

        /// <summary>True when the graph came from the worker's export cache (nothing was exported by this call).</summary>
        public bool Cached { get; set; }

        /// <summary>The graph written (<see cref="OnnxInfo.Path"/> is the <c>model.onnx</c> in <see cref="Output"/>), its opset, quantization and check against torch.</summary>
        public OnnxInfo Onnx { get; set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Model + " (" + Task + ") -> " + Output;
        }

        internal static ExportResult Read(MessagePackReader reader)
        {
            var result = new ExportResult();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                switch (key)
                {
                    case "output": result.Output = r.ReadString(); return true;
                    case "manifest": result.Manifest = r.ReadString(); return true;
                    case "files": result.Files = ResultReading.ReadList(r, x => x.ReadString()); return true;
                    case "task": result.Task = r.ReadString(); return true;
                    case "model": result.Model = r.ReadString(); return true;
                    case "cached": result.Cached = r.ReadBoolean(); return true;
                    case "onnx": result.Onnx = OnnxInfo.Read(r); return true;
                    default: return false;
                }
            });
            if (result.Manifest == null) throw ResultReading.Missing("model/export's result", "manifest");
            return result;
        }
    }
}
