using System.Runtime.CompilerServices;

// The framing and protocol internals are tested directly: their edge cases cannot all be reached
// through a well-behaved worker.
[assembly: InternalsVisibleTo("HfWorker.Tests")]
