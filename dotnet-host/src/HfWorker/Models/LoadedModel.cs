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
        private readonly WorkerSetup<ModelInfo> _setup;

        internal LoadedModel(WorkerSetup<ModelInfo> setup)
        {
            _setup = setup;
            Info = setup.AnyResult;
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

        /// <summary>The model's handle on <paramref name="worker"/>.</summary>
        public string HandleOn(WorkerProcess worker)
        {
            return _setup.ResultOn(worker).Handle;
        }

        /// <summary>Unload it from every worker (one reference each) and stop loading it on new ones.</summary>
        public Task UnloadAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return _setup.RemoveAsync(cancellationToken);
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return Name + " (" + Task + ")";
        }
    }

    /// <summary>The result of <c>model/load</c>.</summary>
    public sealed class ModelInfo
    {
        /// <summary>The handle on the worker that loaded it.</summary>
        public string Handle { get; internal set; }

        /// <summary>The task it runs.</summary>
        public string Task { get; internal set; }

        /// <summary>The model id or folder as sent.</summary>
        public string Model { get; internal set; }

        /// <summary>Where it runs ("cpu", "cuda:0"...).</summary>
        public string Device { get; internal set; }

        /// <summary>Its precision ("float32"...).</summary>
        public string DType { get; internal set; }

        /// <summary>Its parameter count.</summary>
        public long Parameters { get; internal set; }

        /// <summary>Bytes its parameters and buffers hold.</summary>
        public long MemoryBytes { get; internal set; }

        /// <summary>Seconds the first load took.</summary>
        public double LoadSeconds { get; internal set; }

        /// <summary>"folder", "cache", "bundled" or "hub".</summary>
        public string Source { get; internal set; }

        /// <summary>The folder its files came from.</summary>
        public string Path { get; internal set; }

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
                    case "source": info.Source = r.ReadString(); return true;
                    case "path": info.Path = r.ReadString(); return true;
                    default: return false;
                }
            });
            if (info.Handle == null) throw ResultReading.Missing("model/load's result", "handle");
            return info;
        }
    }
}
