using System.Diagnostics;
using HfWorker.Launch;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    [TestFixture]
    public class CommandLineSpecs
    {
        [Test, Timeout(30000)]
        public void Arguments_with_spaces_quotes_and_backslashes_reach_python_intact()
        {
            var arguments = new[] { "plain", "with space", "quote\"inside", "it's", "back\\slash", "trailing\\", "", "$HOME", "tab\there", "üñí", "a\\\"b", "--flag=x y" };
            var all = new[] { "-c", "import sys, json; sys.stdout.write(json.dumps(sys.argv[1:]))" };
            var start = new ProcessStartInfo(TestEnvironment.Python, CommandLine.Join(System.Linq.Enumerable.Concat(all, arguments)))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
            };
            using (var process = Process.Start(start))
            {
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                var received = (object[])MiniJson.Parse(output);
                Assert.That(received, Is.EqualTo(arguments));
            }
        }

        [Test]
        public void Windows_rules_double_backslashes_only_before_quotes()
        {
            // a b | c\d | e\"f | g\ | (empty)  ->  "a b" "c\d" "e\\\"f" "g\\" ""
            Assert.That(CommandLine.Join(new[] { "a b", "c\\d", "e\\\"f", "g\\", "" }, false),
                Is.EqualTo("\"a b\" \"c\\d\" \"e\\\\\\\"f\" \"g\\\\\" \"\""));
        }

        [Test]
        public void Shell_rules_single_quote_everything_that_is_not_plain()
        {
            Assert.That(CommandLine.Join(new[] { "a b", "it's", "plain-1.0" }, true), Is.EqualTo("'a b' 'it'\\''s' plain-1.0"));
        }
    }
}
