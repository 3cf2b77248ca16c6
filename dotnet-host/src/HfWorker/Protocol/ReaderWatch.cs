using System;
using System.Collections.Generic;
using System.Threading;

namespace HfWorker.Protocol
{
    /// <summary>
    /// One background thread, shared by every open connection, that looks at each connection's reader every
    /// <see cref="TickMilliseconds"/> and lets another thread take over reading from a reader held up in a
    /// caller's code (<see cref="RpcConnection.CheckReader"/>).
    /// </summary>
    /// <remarks>
    /// Why a thread of its own rather than a timer: the readers it rescues are held up by callers' code, and
    /// code that blocks a reader (a <c>.Result</c> inside a continuation) is the same code that starves the thread
    /// pool a timer would fire on. The thread runs only while some connection is open.
    /// </remarks>
    internal static class ReaderWatch
    {
        /// <summary>A reader busy with one frame for longer than one tick (and at most two) is taken over.</summary>
        public const int TickMilliseconds = 20;

        private static readonly object Gate = new object();
        private static readonly List<RpcConnection> Watched = new List<RpcConnection>();
        private static Thread _thread;

        public static void Add(RpcConnection connection)
        {
            lock (Gate)
            {
                Watched.Add(connection);
                if (_thread != null) return;
                _thread = new Thread(Run) { IsBackground = true, Name = "hf-worker reader watch" };
                _thread.Start();
            }
        }

        public static void Remove(RpcConnection connection)
        {
            lock (Gate)
            {
                Watched.Remove(connection);
            }
        }

        private static void Run()
        {
            while (true)
            {
                Thread.Sleep(TickMilliseconds);
                RpcConnection[] connections;
                lock (Gate)
                {
                    if (Watched.Count == 0)
                    {
                        _thread = null;
                        return;
                    }
                    connections = Watched.ToArray();
                }
                foreach (var connection in connections)
                {
                    // The one watch serves every connection: nothing one of them does may end it.
                    try
                    {
                        connection.CheckReader();
                    }
                    catch (Exception e)
                    {
                        connection.WatchFailed(e);
                    }
                }
            }
        }
    }
}
