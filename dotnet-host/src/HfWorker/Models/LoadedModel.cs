using System;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>
    /// A model loaded through <see cref="HfModels.LoadAsync"/>: on one worker, or on every worker of a pool
    /// (and again on each replacement), each with its own handle. Pass it to the task methods; unload it
    /// with <see cref="UnloadAsync"/>.
    /// </summary>
    public sealed class LoadedModel
    {
        private readonly IWorkerSetup<ModelInfo> _setup;

        /// <summary>
        /// The model that <paramref name="setup"/> loaded on each worker (what <see cref="HfModels.LoadAsync"/>
        /// builds from <see cref="IWorkerInvoker.SetUpAsync{T}"/>; a fake invoker's set-up works too).
        /// </summary>
        public LoadedModel(IWorkerSetup<ModelInfo> setup)
        {
            if (setup == null) throw new ArgumentNullException("setup");
            if (setup.AnyResult == null) throw new ArgumentException("the set-up has no result on any worker", "setup");
            _setup = setup;
            Info = setup.AnyResult;
        }

        /// <summary>
        /// A model with one handle whatever the worker: what a fake <see cref="IHfModels"/> returns in a test.
        /// <see cref="UnloadAsync"/> does nothing.
        /// </summary>
        public LoadedModel(ModelInfo info)
        {
            if (info == null) throw new ArgumentNullException("info");
            if (info.Handle == null) throw new ArgumentException("the model needs a handle", "info");
            Info = info;
        }

        /// <summary>What the worker said when it loaded the model (the first worker's account; handles differ per worker).</summary>
        public ModelInfo Info { get; private set; }

        /// <summary>The model id or folder as loaded.</summary>
        public string Name
        {
            get { return Info.Model; }
        }

        /// <summary>The task it runs (aliases resolved), e.g. "sentence-embeddings".</summary>
        public string Task
        {
            get { return Info.Task; }
        }

        /// <summary>
        /// The model's handle on <paramref name="worker"/> (handles differ between the workers of a pool). Throws
        /// <see cref="InvalidOperationException"/> for a worker it was not loaded on, <see cref="ObjectDisposedException"/>
        /// once unloaded.
        /// </summary>
        public string HandleOn(WorkerProcess worker)
        {
            return _setup == null ? Info.Handle : _setup.ResultOn(worker).Handle;
        }

        /// <summary>Unload it from every worker (one reference each) and stop loading it on new ones.</summary>
        public Task UnloadAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return _setup == null ? System.Threading.Tasks.Task.FromResult(true) : _setup.RemoveAsync(cancellationToken);
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return Name + " (" + Task + ")";
        }
    }

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

        /// <summary>Its precision ("float32"...).</summary>
        public string DType { get; set; }

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
}
