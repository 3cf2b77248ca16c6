using System.Collections.Generic;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// Key equality for maps whose keys are not all strings: binary keys compare by content,
    /// everything else by its own Equals.
    /// </summary>
    internal sealed class MessagePackKeyComparer : IEqualityComparer<object>
    {
        public static readonly MessagePackKeyComparer Instance = new MessagePackKeyComparer();

        public new bool Equals(object x, object y)
        {
            var a = x as byte[];
            var b = y as byte[];
            if (a != null && b != null)
            {
                if (a.Length != b.Length) return false;
                for (int i = 0; i < a.Length; i++)
                {
                    if (a[i] != b[i]) return false;
                }
                return true;
            }
            return object.Equals(x, y);
        }

        public int GetHashCode(object obj)
        {
            var bytes = obj as byte[];
            if (bytes == null) return obj == null ? 0 : obj.GetHashCode();
            int hash = bytes.Length;
            foreach (byte b in bytes) hash = hash * 31 + b;
            return hash;
        }
    }
}
