using System;

namespace HfWorker.Diagnostics
{
    /// <summary>How much a <see cref="HostEvent"/> matters, in the levels logging libraries use.</summary>
    public enum HostEventLevel
    {
        /// <summary>Routine: a worker started, a call was retried as documented.</summary>
        Information,

        /// <summary>Something the host handled but an operator should know: a restart, a slow start, a busy worker.</summary>
        Warning,

        /// <summary>Something went wrong: a worker was killed as hung, a rogue peer was refused.</summary>
        Error,
    }

    /// <summary>
    /// One thing the host itself did or saw (not a line the worker wrote): a start, a restart, a kill, a
    /// retry, a refused connection. Given to <see cref="WorkerProcessOptions.OnHostEvent"/> (and, for a
    /// pool's workers, through <see cref="WorkerPoolOptions.Worker"/>), and kept in the stderr tail as a
    /// <c>[host]</c> line so exit reports show it too.
    /// </summary>
    public sealed class HostEvent
    {
        internal HostEvent(HostEventKind kind, HostEventLevel level, int processId, int slot, string message)
        {
            Kind = kind;
            Level = level;
            ProcessId = processId;
            Slot = slot;
            Message = message;
            Time = DateTimeOffset.Now;
        }

        /// <summary>What happened, for filtering and counting.</summary>
        public HostEventKind Kind { get; private set; }

        /// <summary>How much it matters.</summary>
        public HostEventLevel Level { get; private set; }

        /// <summary>The worker process it concerns, or 0 when none had started yet.</summary>
        public int ProcessId { get; private set; }

        /// <summary>The pool slot it concerns (0..WorkerCount-1), or -1 outside a pool.</summary>
        public int Slot { get; private set; }

        /// <summary>One line for people, naming the worker and the reason.</summary>
        public string Message { get; private set; }

        /// <summary>When the host saw it.</summary>
        public DateTimeOffset Time { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Level + " " + Kind + (ProcessId != 0 ? " pid " + ProcessId : "") + (Slot >= 0 ? " slot " + Slot : "") + ": " + Message;
        }
    }
}
