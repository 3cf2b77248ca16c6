using System;
using System.Globalization;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// Which build of torch an environment gets: the CPU build, one for a CUDA version, or whatever the package
    /// indexes offer (<see cref="Auto"/>).
    /// </summary>
    /// <remarks>
    /// PyTorch labels its builds with a local version: <c>2.13.0+cpu</c>, <c>2.13.0+cu128</c>. A build other than
    /// <see cref="Auto"/> pins torch to that label on Linux and Windows (PyPI's Linux torch is the CUDA build, and a
    /// resolver left alone would take it: several GB for a machine with no GPU); on macOS there is only one build and
    /// nothing is pinned. The wheels must come from somewhere the builder looks: PyTorch's index for the build
    /// (<see cref="IndexUrl"/>, add it with <see cref="WorkerEnvironmentBuilder.WithExtraIndexUrl"/>), or a mirror or
    /// find-links folder that holds them.
    /// </remarks>
    public sealed class TorchBuild : IEquatable<TorchBuild>
    {
        private TorchBuild(string label, string indexUrl)
        {
            Label = label;
            IndexUrl = indexUrl;
        }

        /// <summary>Whatever build the indexes offer for torch's version; nothing is pinned.</summary>
        public static readonly TorchBuild Auto = new TorchBuild(null, null);

        /// <summary>The CPU build (<c>+cpu</c>), from PyTorch's CPU index or a mirror of it.</summary>
        public static readonly TorchBuild Cpu = new TorchBuild("cpu", "https://download.pytorch.org/whl/cpu");

        /// <summary>The build for CUDA <paramref name="version"/> (<c>"12.8"</c> gives <c>+cu128</c>).</summary>
        public static TorchBuild Cuda(string version)
        {
            Version parsed;
            if (string.IsNullOrEmpty(version) || !System.Version.TryParse(version.Contains(".") ? version : version + ".0", out parsed))
            {
                throw new ArgumentException("a CUDA version such as \"12.8\"", "version");
            }
            string label = "cu" + parsed.Major.ToString(CultureInfo.InvariantCulture) + Math.Max(parsed.Minor, 0).ToString(CultureInfo.InvariantCulture);
            return new TorchBuild(label, "https://download.pytorch.org/whl/" + label);
        }

        /// <summary>The local version label torch is pinned to (<c>cpu</c>, <c>cu128</c>); null for <see cref="Auto"/>.</summary>
        public string Label { get; private set; }

        /// <summary>PyTorch's own index for this build; null for <see cref="Auto"/>. Not added on its own: pass it (or a mirror) to the builder.</summary>
        public string IndexUrl { get; private set; }

        /// <summary>True when both name the same build.</summary>
        public bool Equals(TorchBuild other)
        {
            return other != null && Label == other.Label;
        }

        /// <summary>True when <paramref name="obj"/> is a <see cref="TorchBuild"/> naming the same build.</summary>
        public override bool Equals(object obj)
        {
            return Equals(obj as TorchBuild);
        }

        /// <summary>A hash of the label.</summary>
        public override int GetHashCode()
        {
            return Label == null ? 0 : Label.GetHashCode();
        }

        /// <summary><c>auto</c>, <c>cpu</c> or <c>cu128</c>.</summary>
        public override string ToString()
        {
            return Label ?? "auto";
        }
    }
}
