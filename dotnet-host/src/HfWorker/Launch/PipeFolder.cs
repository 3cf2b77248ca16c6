using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using HfWorker.Exceptions;

namespace HfWorker.Launch
{
    /// <summary>
    /// A folder only this user can enter (mode 0700), made for one worker's socket and removed with it.
    /// </summary>
    /// <remarks>
    /// The temporary directory is shared by every user, so a socket there can be reached by anyone who guesses its
    /// name (it is on the worker's command line, which every user can read). In a folder of mode 0700 only this
    /// user (and root) can reach it; the peer checks in <see cref="WorkerPipe"/> then tell the started worker from
    /// any other process of the same user. The folder goes in <c>$XDG_RUNTIME_DIR</c> when that is a private folder
    /// of ours, else in the temporary directory (<c>$TMPDIR</c>, else <c>/tmp</c>). Unix only.
    /// </remarks>
    internal sealed class PipeFolder : IDisposable
    {
        private const int Private = 448; // 0700

        private PipeFolder(string path)
        {
            Path = path;
        }

        /// <summary>The folder's absolute path.</summary>
        public string Path { get; private set; }

        /// <summary>Make a new private folder. Throws <see cref="WorkerStartException"/> saying where it tried when none can be made.</summary>
        public static PipeFolder Create()
        {
            var tried = new List<string>();
            foreach (var root in Roots())
            {
                for (int attempt = 0; attempt < 3; attempt++)
                {
                    var path = System.IO.Path.Combine(root, "hfw-" + RandomHex(8));
                    if (UnixCalls.MakePrivateFolder(path))
                    {
                        Check(path);
                        return new PipeFolder(path);
                    }
                    // A name taken by chance is tried again; a root we cannot write to is left for the next.
                    if (!Directory.Exists(path) && !File.Exists(path)) break;
                }
                tried.Add(root);
            }
            throw new WorkerStartException("cannot make a private folder (mode 0700) for the pipe's socket in " + string.Join(" or ", tried));
        }

        /// <summary>Remove the folder and whatever is left in it. Never throws.</summary>
        public void Dispose()
        {
            try
            {
                if (Directory.Exists(Path)) Directory.Delete(Path, true);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                // Nothing in it can be reached once the socket is closed; a leftover empty folder harms no one.
            }
        }

        private static IEnumerable<string> Roots()
        {
            // $XDG_RUNTIME_DIR is per user and 0700 by its specification; it is used only when it really is.
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            if (!string.IsNullOrEmpty(runtime) && System.IO.Path.IsPathRooted(runtime) && Directory.Exists(runtime))
            {
                var facts = UnixCalls.Describe(runtime);
                if (facts != null && facts.IsDirectory && !facts.IsSymbolicLink && facts.OwnerId == UnixCalls.EffectiveUserId()
                    && (facts.Permissions & 63) == 0)
                {
                    yield return runtime;
                }
            }
            yield return System.IO.Path.GetTempPath();
        }

        private static void Check(string path)
        {
            // mkdir made it, so it is new and ours; read back what the file system says where it can say it.
            var facts = UnixCalls.Describe(path);
            if (facts == null) return;
            if (!facts.IsDirectory || facts.IsSymbolicLink || facts.OwnerId != UnixCalls.EffectiveUserId() || facts.Permissions != Private)
            {
                throw new WorkerStartException("the pipe's folder " + path + " is not a private folder of this user (mode "
                    + Convert.ToString(facts.Permissions, 8) + ", owner uid " + facts.OwnerId.ToString(CultureInfo.InvariantCulture) + ")");
            }
        }

        private static string RandomHex(int byteCount)
        {
            var bytes = new byte[byteCount];
            using (var random = RandomNumberGenerator.Create()) random.GetBytes(bytes);
            var text = new System.Text.StringBuilder(byteCount * 2);
            foreach (byte b in bytes) text.Append(b.ToString("x2", CultureInfo.InvariantCulture));
            return text.ToString();
        }
    }
}
