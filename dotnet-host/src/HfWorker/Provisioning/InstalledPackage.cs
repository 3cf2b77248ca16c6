namespace HfWorker.Provisioning
{
    /// <summary>One package of an environment's lock file: its name and the exact version (or source) installed.</summary>
    public sealed class InstalledPackage
    {
        internal InstalledPackage(string name, string version)
        {
            Name = name;
            Version = version;
        }

        /// <summary>The distribution's name as the lock file writes it (<c>torch</c>, <c>hf-worker</c>).</summary>
        public string Name { get; private set; }

        /// <summary>The version pinned (<c>2.13.0+cpu</c>), or the source of a direct reference (<c>file:///...</c>).</summary>
        public string Version { get; private set; }

        /// <summary><c>name==version</c>, or <c>name @ source</c>.</summary>
        public override string ToString()
        {
            return Version.Contains("://") ? Name + " @ " + Version : Name + "==" + Version;
        }
    }
}
