using System;
using System.IO;
using NUnit.Framework;

namespace HfWorker.Tests.Support
{
    /// <summary>A fixture whose every test gets a fresh, empty folder for the files it writes, removed afterwards.</summary>
    public abstract class ScratchFolderFixture
    {
        private readonly string _prefix;

        protected ScratchFolderFixture(string prefix)
        {
            _prefix = prefix;
        }

        protected string Scratch { get; private set; }

        [SetUp]
        public void MakeScratchFolder()
        {
            Scratch = Path.Combine(Path.GetTempPath(), _prefix + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(Scratch);
        }

        [TearDown]
        public void RemoveScratchFolder()
        {
            Directory.Delete(Scratch, true);
        }
    }
}
