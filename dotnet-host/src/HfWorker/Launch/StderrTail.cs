using System.Collections.Generic;

namespace HfWorker.Launch
{
    /// <summary>The last N lines a worker wrote to stderr, kept for the report of its exit.</summary>
    internal sealed class StderrTail
    {
        private readonly Queue<string> _lines;
        private readonly int _capacity;
        private readonly object _lock = new object();

        public StderrTail(int capacity)
        {
            _capacity = capacity;
            _lines = new Queue<string>(capacity);
        }

        public void Add(string line)
        {
            if (_capacity == 0) return;
            lock (_lock)
            {
                if (_lines.Count == _capacity) _lines.Dequeue();
                _lines.Enqueue(line);
            }
        }

        public IReadOnlyList<string> Snapshot()
        {
            lock (_lock) return _lines.ToArray();
        }
    }
}
