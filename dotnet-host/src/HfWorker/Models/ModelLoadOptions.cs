using System;
using System.Collections.Generic;

namespace HfWorker.Models
{
    /// <summary>How <see cref="HfModels.LoadAsync"/> loads a model. Every default is the worker's own.</summary>
    public sealed class ModelLoadOptions
    {
        /// <summary>The task, e.g. "summarization". Default null: told from the model folder.</summary>
        public string Task { get; set; }

        /// <summary>Hub branch, tag or commit. Default null.</summary>
        public string Revision { get; set; }

        /// <summary>"auto", "cpu", "cuda", "cuda:N" or "mps". Default null: the worker's "auto".</summary>
        public string Device { get; set; }

        /// <summary>"auto", "float32", "float16" or "bfloat16". Default null: the worker's "auto".</summary>
        public string DType { get; set; }

        /// <summary>
        /// What runs the model: <see cref="ModelBackend.Torch"/> or <see cref="ModelBackend.OnnxRuntime"/> (the model
        /// exported to ONNX once, cached, checked against torch, and run with ONNX Runtime in the worker; the
        /// tasks it takes are listed in protocol.md, model/load). Default null: the worker's "torch".
        /// </summary>
        public string Backend { get; set; }

        /// <summary>
        /// With <see cref="ModelBackend.OnnxRuntime"/>: "int8" for ONNX Runtime's dynamic int8 quantization (its
        /// accuracy check is in <see cref="ModelInfo.Onnx"/>). Default null: none. The worker refuses it with torch.
        /// </summary>
        public string Quantize { get; set; }

        /// <summary>Passed to from_pretrained (e.g. "attn_implementation"). Default none.</summary>
        public IDictionary<string, object> Options { get; private set; } = new Dictionary<string, object>();

        /// <summary>Dynamic batching: the most inputs per forward pass. Default null: the worker's (32).</summary>
        public int? MaxBatchSize { get; set; }

        /// <summary>Dynamic batching: how long the oldest call waits for company, in milliseconds (never when the worker has no other call unanswered). Default null: the worker's (5).</summary>
        public double? MaxBatchDelayMilliseconds { get; set; }

        /// <summary>How long a load may take. Default null: the invoker's default call timeout.</summary>
        public TimeSpan? Timeout { get; set; }

        internal Dictionary<string, object> ToParams(string model)
        {
            var parameters = new Dictionary<string, object> { { "model", model } };
            if (Task != null) parameters["task"] = Task;
            if (Revision != null) parameters["revision"] = Revision;
            if (Device != null) parameters["device"] = Device;
            if (DType != null) parameters["dtype"] = DType;
            if (Backend != null) parameters["backend"] = Backend;
            if (Quantize != null) parameters["quantize"] = Quantize;
            if (Options.Count > 0) parameters["options"] = Options;
            if (MaxBatchSize.HasValue || MaxBatchDelayMilliseconds.HasValue)
            {
                var batching = new Dictionary<string, object>();
                if (MaxBatchSize.HasValue) batching["max_batch_size"] = MaxBatchSize.Value;
                if (MaxBatchDelayMilliseconds.HasValue) batching["max_delay_ms"] = MaxBatchDelayMilliseconds.Value;
                parameters["batching"] = batching;
            }
            return parameters;
        }
    }

    /// <summary>The backends <see cref="ModelLoadOptions.Backend"/> names (strings, so that a newer worker's backend needs no new library).</summary>
    public static class ModelBackend
    {
        /// <summary>"torch": transformers on PyTorch, every task (the worker's default).</summary>
        public const string Torch = "torch";

        /// <summary>"onnxruntime": the model exported to ONNX and run by ONNX Runtime in the worker (encoder tasks only).</summary>
        public const string OnnxRuntime = "onnxruntime";
    }

    /// <summary>Generation settings for summarize, generate and caption. Null members leave the model's defaults.</summary>
    public sealed class GenerationOptions
    {
        /// <summary>The most tokens to generate. Default null: the model's generation config (64 if it sets none).</summary>
        public int? MaxNewTokens { get; set; }

        /// <summary>Sample instead of greedy decoding. Default null (the model's setting).</summary>
        public bool? DoSample { get; set; }

        /// <summary>Sampling temperature. Default null.</summary>
        public double? Temperature { get; set; }

        /// <summary>Nucleus sampling probability. Default null.</summary>
        public double? TopP { get; set; }

        /// <summary>Seed for sampling, for repeatable output. Default null.</summary>
        public long? Seed { get; set; }

        /// <summary>Strings that end generation. Default none.</summary>
        public IList<string> Stop { get; private set; } = new List<string>();

        /// <summary>Any other generation or task parameter by its protocol name (e.g. "num_beams", "src_lang"). Default none.</summary>
        public IDictionary<string, object> Extra { get; private set; } = new Dictionary<string, object>();

        internal Dictionary<string, object> ToParameters()
        {
            var parameters = new Dictionary<string, object>();
            if (MaxNewTokens.HasValue) parameters["max_new_tokens"] = MaxNewTokens.Value;
            if (DoSample.HasValue) parameters["do_sample"] = DoSample.Value;
            if (Temperature.HasValue) parameters["temperature"] = Temperature.Value;
            if (TopP.HasValue) parameters["top_p"] = TopP.Value;
            if (Seed.HasValue) parameters["seed"] = Seed.Value;
            if (Stop.Count > 0) parameters["stop"] = Stop;
            foreach (var pair in Extra) parameters[pair.Key] = pair.Value;
            return parameters;
        }
    }
}
