using System;
using System.Globalization;
using System.IO;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using Microsoft.Win32.SafeHandles;

namespace HfWorker.Launch
{
    /// <summary>
    /// The host's end of the named-pipe transport: where the pipe is, and who may use it. Whoever connects is
    /// checked before anything is sent to it; a process that is not the started worker is refused (disconnected
    /// unread and unwritten) and the pipe waits for the next connection.
    /// </summary>
    /// <remarks>
    /// <para>It stays a <see cref="NamedPipeServerStream"/> on every platform. On Linux and macOS both Mono (checked
    /// here: 6.8) and .NET (its documented behaviour since .NET Core 2.1) use a pipe name that is an absolute path as
    /// the Unix socket's path, so the socket can be put in a <see cref="PipeFolder"/> of mode 0700 without a
    /// hand-written <c>sockaddr_un</c> endpoint (<c>UnixDomainSocketEndPoint</c> is not in netstandard2.0, nor in
    /// Mono). Both keep the socket's file descriptor as the stream's handle, which is what SO_PEERCRED is asked
    /// about, and both accept again after <see cref="NamedPipeServerStream.Disconnect"/>.</para>
    /// <para>The checks, where the platform has them: on Linux the peer's uid and pid (SO_PEERCRED), the pid being
    /// the started process or a descendant of it (a launcher script in between); on macOS the uid (getpeereid);
    /// on Windows the pipe is made <c>CurrentUserOnly</c> where the runtime has that option (.NET Core 2.1 and
    /// later, Mono) and the client's pid (GetNamedPipeClientProcessId) must be the started process or in its job
    /// object. Everywhere the start token in <c>worker/ready</c> is the final proof (protocol.md, "Transports").</para>
    /// </remarks>
    internal sealed class WorkerPipe : IDisposable
    {
        private static readonly bool IsWindows = Path.DirectorySeparatorChar == '\\';
        // sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
        private static readonly int MaxSocketPathBytes = UnixCalls.IsMacOS ? 103 : 107;
        // PipeOptions.CurrentUserOnly, which netstandard2.0 does not name; used only where the running runtime has it.
        private const PipeOptions CurrentUserOnly = (PipeOptions)0x20000000;

        private readonly PipeFolder _folder;

        private WorkerPipe(string name, PipeFolder folder, NamedPipeServerStream stream)
        {
            Name = name;
            _folder = folder;
            Stream = stream;
        }

        /// <summary>What the worker's <c>--pipe</c> gets: on Unix the socket's absolute path, on Windows the pipe's name.</summary>
        public string Name { get; private set; }

        /// <summary>The folder holding the socket, or null (Windows, or a caller's absolute <c>PipeName</c>).</summary>
        public string Folder
        {
            get { return _folder == null ? null : _folder.Path; }
        }

        /// <summary>The server's stream: frames go over it once a peer has been accepted.</summary>
        public NamedPipeServerStream Stream { get; private set; }

        /// <summary>
        /// Create the pipe, listening. <paramref name="requestedName"/> (the options' <c>PipeName</c>) names the socket
        /// inside a new private folder, or on Windows the pipe; an absolute path is used as the socket's path as given.
        /// </summary>
        public static WorkerPipe Create(string requestedName, int hostPid)
        {
            PipeFolder folder = null;
            string name;
            var options = PipeOptions.Asynchronous;
            if (IsWindows)
            {
                name = requestedName ?? WorkerCommand.UniquePipeName(hostPid);
                if (Enum.IsDefined(typeof(PipeOptions), CurrentUserOnly)) options |= CurrentUserOnly;
            }
            else if (requestedName != null && Path.IsPathRooted(requestedName))
            {
                name = requestedName;
            }
            else
            {
                folder = PipeFolder.Create();
                name = Path.Combine(folder.Path, requestedName ?? "pipe");
            }
            try
            {
                if (!IsWindows && Encoding.UTF8.GetByteCount(name) > MaxSocketPathBytes)
                {
                    throw new WorkerStartException("the pipe's socket path " + name + " is longer than the "
                        + MaxSocketPathBytes.ToString(CultureInfo.InvariantCulture) + " bytes a Unix socket allows (set TMPDIR to a shorter folder)");
                }
                return new WorkerPipe(name, folder, new NamedPipeServerStream(name, PipeDirection.InOut, 1, PipeTransmissionMode.Byte, options));
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is WorkerStartException)
            {
                if (folder != null) folder.Dispose();
                if (e is WorkerStartException) throw;
                throw new WorkerStartException("cannot create the named pipe " + name + ": " + e.Message, null, e);
            }
        }

        /// <summary>Wait for the next connection; faults when the pipe is disposed meanwhile.</summary>
        public Task WaitForConnectionAsync(CancellationToken cancellationToken)
        {
            return Stream.WaitForConnectionAsync(cancellationToken);
        }

        /// <summary>
        /// Why the peer now connected is not the started worker, or null when nothing the platform tells says so
        /// (the start token decides). <paramref name="tree"/> is the started process and what it started.
        /// </summary>
        public string RefusalOf(PeerCredentials peer, ProcessTree tree)
        {
            if (peer == null) return null;
            if (peer.UserId.HasValue)
            {
                var own = UnixCalls.EffectiveUserId();
                if (peer.UserId.Value != own)
                {
                    return "it runs as uid " + peer.UserId.Value.ToString(CultureInfo.InvariantCulture) + ", not as this host's uid " + own.ToString(CultureInfo.InvariantCulture);
                }
            }
            if (peer.ProcessId.HasValue && tree.Contains(peer.ProcessId.Value) == false)
            {
                return "pid " + peer.ProcessId.Value.ToString(CultureInfo.InvariantCulture) + " is neither the started worker (pid "
                    + tree.RootId.ToString(CultureInfo.InvariantCulture) + ") nor a process it started";
            }
            return null;
        }

        /// <summary>Who is connected now, as far as the platform tells; null when it tells nothing.</summary>
        public PeerCredentials Peer()
        {
            try
            {
                if (IsWindows)
                {
                    uint pid;
                    return Windows.GetNamedPipeClientProcessId(Stream.SafePipeHandle, out pid) ? new PeerCredentials((int)pid, null) : null;
                }
                return UnixCalls.PeerOf(Stream.SafePipeHandle.DangerousGetHandle());
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                return null;
            }
        }

        /// <summary>Close the connection now held, without reading or writing anything, and listen again.</summary>
        public void Refuse()
        {
            Stream.Disconnect();
        }

        /// <summary>Close the pipe (its socket file goes with it) and remove its folder. Never throws.</summary>
        public void Dispose()
        {
            try
            {
                Stream.Dispose();
            }
            catch (IOException)
            {
                // Closing a pipe whose peer is gone.
            }
            if (_folder != null) _folder.Dispose();
        }

        private static class Windows
        {
            [DllImport("kernel32.dll", SetLastError = true)]
            public static extern bool GetNamedPipeClientProcessId(SafePipeHandle pipe, out uint clientProcessId);
        }
    }
}
