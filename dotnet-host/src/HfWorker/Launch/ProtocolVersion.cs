namespace HfWorker.Launch
{
    /// <summary>
    /// The protocol version this host speaks, and the check of the one a worker announces in <c>worker/ready</c>.
    /// A worker of another version is refused before anything is sent to it: the wire contract (protocol.md) is
    /// what changes between versions, so no call to it could be trusted to mean what this host means.
    /// </summary>
    internal static class ProtocolVersion
    {
        /// <summary>The version of protocol.md this host implements.</summary>
        internal const int Spoken = 1;

        /// <summary>
        /// Null when a worker that announced <paramref name="ready"/> speaks this host's protocol; otherwise why
        /// not, naming the worker's package and protocol versions, this host's, and what to install.
        /// </summary>
        internal static string Refusal(WorkerReadyInfo ready)
        {
            if (ready.Protocol == Spoken) return null;
            var worker = "hf-worker " + (string.IsNullOrEmpty(ready.Version) ? "(version not given)" : ready.Version);
            var remedy = ready.Protocol < Spoken
                ? "upgrade hf-worker in the worker's environment"
                : "use an HfWorker host that speaks protocol " + ready.Protocol + ", or an older hf-worker";
            return "the worker is too " + (ready.Protocol < Spoken ? "old" : "new") + " for this host: " + worker
                + " speaks protocol " + ready.Protocol + ", this host speaks protocol " + Spoken + "; " + remedy
                + " (one that speaks protocol " + Spoken + ")";
        }
    }
}
